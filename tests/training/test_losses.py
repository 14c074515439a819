"""Each loss against a direct computation, the equivariance terms against the golden fixture, and one
whole training step against a transcription of the authors' step."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from fomm.config import ConfigError, load_config, parse_config
from fomm.model import FOMM
from fomm.models import ImagePyramid, Keypoints
from fomm.training.losses import (
    DiscriminatorLoss,
    GeneratorLoss,
    check_train_params,
    discriminator_gan_loss,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    feature_matching_loss,
    generator_gan_loss,
    perceptual_loss,
)
from fomm.training.trainer import Trainer
from fomm.training.transforms import Transform

from .helpers import RandomPairs, tiny_config
from .original_step import OriginalDiscriminatorFullModel, OriginalGeneratorFullModel

B, S = 2, 32


def _images(seed: int, requires_grad: bool = False) -> torch.Tensor:
    x = torch.rand(B, 3, S, S, generator=torch.Generator().manual_seed(seed))
    return x.requires_grad_(requires_grad)


def test_perceptual_loss_matches_direct_computation(vgg):
    scales, weights = [1, 0.5], [10.0, 0.0, 2.0, 0.0, 0.0]
    pyramid = ImagePyramid(scales, 3)
    pred, real = _images(0, True), _images(1)
    expected = 0
    for s in scales:
        x_vgg, y_vgg = vgg(pyramid(pred)[s]), vgg(pyramid(real)[s])  # all five layers, with autograd
        for i, weight in enumerate(weights):
            expected = expected + weight * torch.abs(x_vgg[i] - y_vgg[i].detach()).mean()
    (expected_grad,) = torch.autograd.grad(expected, pred)
    for batched in (False, True):
        actual = perceptual_loss(vgg, pyramid(pred), pyramid(real), weights, batched=batched)
        (grad,) = torch.autograd.grad(actual, pred)
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-8)


def test_perceptual_loss_runs_only_the_needed_layers(vgg):
    calls = []
    hook = vgg.features[12].register_forward_hook(lambda *a: calls.append(1))  # conv4_1, after relu3_1
    try:
        pyramid = {1: _images(0)}
        perceptual_loss(vgg, pyramid, {1: _images(1)}, [1.0, 1.0, 1.0, 0.0, 0.0])
        assert not calls
        perceptual_loss(vgg, pyramid, {1: _images(1)}, [0.0, 0.0, 0.0, 1.0])
        assert calls
    finally:
        hook.remove()
    assert float(perceptual_loss(vgg, pyramid, {1: _images(1)}, [0.0] * 5)) == 0


@pytest.fixture(scope="module")
def discriminator():
    config = tiny_config(generator_gan=1)
    config.model_params.discriminator_params.scales = [1, 0.5]
    torch.manual_seed(0)
    return FOMM(config, with_discriminator=True).discriminator.eval()  # eval: no spectral-norm power iteration


def test_gan_and_feature_matching_losses_match_direct_computation(discriminator):
    pyramid = ImagePyramid([1, 0.5], 3)
    real, fake = pyramid(_images(0)), pyramid(_images(1))
    kp = torch.rand(B, 3, 2) * 2 - 1
    d_real, d_fake = discriminator(real, kp), discriminator(fake, kp)
    fm_weights = [10.0, 3.0]
    exp_gen = sum(2.0 * ((1 - d_fake[s].prediction_map) ** 2).mean() for s in (1, 0.5))
    exp_fm = sum(w * torch.abs(a - b).mean() for s in (1, 0.5)
                 for w, a, b in zip(fm_weights, d_real[s].feature_maps, d_fake[s].feature_maps, strict=True))
    exp_disc = sum(0.5 * ((1 - d_real[s].prediction_map) ** 2 + d_fake[s].prediction_map ** 2).mean()
                   for s in (1, 0.5))
    torch.testing.assert_close(generator_gan_loss(d_fake, 2.0), exp_gen)
    torch.testing.assert_close(feature_matching_loss(d_real, d_fake, fm_weights), exp_fm)
    torch.testing.assert_close(discriminator_gan_loss(d_real, d_fake, 0.5), exp_disc)
    # The discriminator module detaches the generated frames and the keypoints.
    fake_leaf = {s: x.clone().requires_grad_(True) for s, x in fake.items()}
    kp_leaf = kp.clone().requires_grad_(True)
    losses = DiscriminatorLoss(discriminator, 0.5)(real, fake_leaf, kp_leaf)
    torch.testing.assert_close(losses["disc_gan"], exp_disc)
    losses["disc_gan"].backward()
    assert all(x.grad is None for x in fake_leaf.values()) and kp_leaf.grad is None
    discriminator.zero_grad(set_to_none=True)


@pytest.mark.parametrize("ac", [0, 1])
def test_equivariance_losses_match_the_golden_transform(golden, ac):
    """T and dT from the authors' fixture; the losses as the authors' code computes them."""
    io = np.load(golden / "tiny-io.npz")
    transform = Transform.from_params(torch.from_numpy(io["tps_theta"]), torch.from_numpy(io["tps_control_params"]),
                                      align_corners=bool(ac))
    kp_t = torch.from_numpy(io["tps_coordinates"])  # (2, 10, 2): stands for the transformed frame's keypoints
    jac_t = torch.from_numpy(io[f"ac{ac}_kp_driving_jacobian"][:2]).flip(0)
    kp_d = Keypoints(torch.from_numpy(io[f"ac{ac}_kp_driving_value"][:2]),
                     torch.from_numpy(io[f"ac{ac}_kp_driving_jacobian"][:2]))
    warped, d_transform = torch.from_numpy(io[f"ac{ac}_tps_warped"]), torch.from_numpy(io[f"ac{ac}_tps_jacobian"])
    expected_value = torch.abs(kp_d.value - warped).mean()
    eye = torch.eye(2).view(1, 1, 2, 2)
    expected_jacobian = torch.abs(eye - torch.inverse(kp_d.jacobian) @ (d_transform @ jac_t)).mean()
    kp_transformed = Keypoints(kp_t.clone().requires_grad_(True), jac_t)
    torch.testing.assert_close(equivariance_value_loss(kp_d, kp_transformed, transform), expected_value,
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(equivariance_jacobian_loss(kp_d, kp_transformed, transform), expected_jacobian,
                               atol=1e-5, rtol=0)


def test_equivariance_transform_with_a_large_rotation():
    """max_rotation (ours) turns the affine part by an angle within the bound; without it, the
    published draws are unchanged, so published recipes train exactly as before."""
    published = Transform(64, 0.05, 0.005, 5, generator=torch.Generator().manual_seed(3))
    unrotated = Transform(64, 0.05, 0.005, 5, generator=torch.Generator().manual_seed(3), max_rotation=0.0)
    assert torch.equal(published.theta, unrotated.theta)
    assert torch.equal(published.control_params, unrotated.control_params)
    turned = Transform(64, 0.0, generator=torch.Generator().manual_seed(3), max_rotation=60.0)
    linear = turned.theta[..., :2]
    torch.testing.assert_close(linear @ linear.transpose(1, 2), torch.eye(2).expand(64, 2, 2))  # a rotation
    angle = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0]))
    assert angle.abs().max() <= 60 and angle.abs().max() > 40 and angle.min() < 0 < angle.max()
    point = torch.tensor([[[0.5, 0.0]]])
    radians = torch.deg2rad(angle)
    torch.testing.assert_close(turned.warp_coordinates(point)[:, 0],
                               0.5 * torch.stack([torch.cos(radians), torch.sin(radians)], -1))
    # its Jacobian (what the jacobian equivariance uses) is the rotation itself
    torch.testing.assert_close(turned.jacobian(point.expand(64, 1, 2))[:, 0], linear)


def test_a_frame_is_warped_by_the_exact_transform_under_autocast():
    """In a bf16 run the frame must be warped by the T its equivariance losses use (float32), not by a
    bf16-rounded one (autocast runs the affine matmul in bf16: up to 0.2 px off at 64 px)."""
    def transform():
        return Transform(8, 0.1, 0.01, 5, generator=torch.Generator().manual_seed(1), max_rotation=30.0)

    frame = torch.rand(8, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    points = torch.rand(8, 16, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1
    exact_t = transform()
    with torch.autocast("cpu", torch.bfloat16):
        reduced_t = transform()
        warped = reduced_t.transform_frame(frame)
        moved = reduced_t.warp_coordinates(points)
    torch.testing.assert_close(reduced_t.theta, exact_t.theta, rtol=0, atol=0)
    torch.testing.assert_close(moved, exact_t.warp_coordinates(points), rtol=0, atol=1e-6)
    torch.testing.assert_close(warped, exact_t.transform_frame(frame), rtol=0, atol=1e-5)


def test_max_rotation_stays_out_of_published_configs():
    config = load_config("vox-256")
    assert "max_rotation" not in config.to_dict()["train_params"]["transform_params"]
    config.train_params.transform_params.max_rotation = 45.0
    assert parse_config(config.to_dict()).train_params.transform_params.max_rotation == 45.0


def test_reconstruction_l1_is_optional(vgg):
    config = tiny_config(reconstruction_l1=3.0)
    torch.manual_seed(0)
    model = FOMM(config)
    source, driving = _images(0), _images(1)
    losses, step = GeneratorLoss(model.kp_detector, model.generator, config.train_params, vgg)(source, driving)
    assert list(losses) == ["perceptual", "equivariance_value", "equivariance_jacobian", "reconstruction_l1"]
    pyramid = ImagePyramid(config.train_params.scales, 3)
    generated, real = pyramid(step.generated.prediction), pyramid(driving)
    expected = 3.0 * sum((generated[s] - real[s]).abs().mean() for s in config.train_params.scales)
    assert len(config.train_params.scales) > 1
    torch.testing.assert_close(losses["reconstruction_l1"], expected)
    config.train_params.loss_weights.reconstruction_l1 = 0
    losses, _ = GeneratorLoss(model.kp_detector, model.generator, config.train_params, vgg)(source, driving)
    assert "reconstruction_l1" not in losses


def _grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def test_training_step_matches_the_original_step(vgg):
    """Losses and gradients of generator, keypoint detector and discriminator equal those of the
    authors' step (their GeneratorFullModel / DiscriminatorFullModel) from the same weights and noise."""
    config = tiny_config(generator_gan=1, perceptual=[10, 10, 10, 10, 10])
    trainer = Trainer(config, RandomPairs(), "unused", device="cpu", vgg=vgg, tensorboard=False)
    reference = copy.deepcopy(trainer.model)
    x = {"source": _images(0), "driving": _images(1)}

    torch.manual_seed(7)
    losses, _ = trainer.train_step(x["source"], x["driving"])
    ours = {name: _grads(net) for name, net in trainer.model.networks().items()}

    ref_g = OriginalGeneratorFullModel(reference.kp_detector, reference.generator, reference.discriminator,
                                       config.train_params, vgg)
    ref_d = OriginalDiscriminatorFullModel(reference.discriminator, config.train_params)
    torch.manual_seed(7)
    ref_losses, generated = ref_g(x)
    sum(ref_losses.values()).backward()
    theirs = {"generator": _grads(reference.generator), "kp_detector": _grads(reference.kp_detector)}
    reference.discriminator.zero_grad(set_to_none=True)  # the original discards them
    ref_losses.update(ref_d(x, generated))
    ref_losses["disc_gan"].backward()
    theirs["discriminator"] = _grads(reference.discriminator)

    assert list(losses) == list(ref_losses)
    for name in losses:
        torch.testing.assert_close(losses[name], ref_losses[name].detach(), rtol=1e-5, atol=1e-6, msg=name)
    for net in theirs:
        assert ours[net].keys() == theirs[net].keys(), net
        scale = max(float(g.abs().max()) for g in theirs[net].values())  # float32 noise relative to the net's
        for key, expected in theirs[net].items():
            error = float((ours[net][key] - expected).abs().max())
            assert error <= 1e-4 * scale, f"{net}.{key}: max difference {error} (largest gradient {scale})"
    # The same batch-norm statistics and spectral-norm vectors (same calls in the same order).
    for key, value in reference.state_dict().items():
        if not value.is_floating_point() or "running" in key or "weight_u" in key or "weight_v" in key:
            torch.testing.assert_close(trainer.model.state_dict()[key], value, rtol=1e-4, atol=1e-6, msg=key)


def test_bad_loss_settings_are_refused():
    config = tiny_config(equivariance_jacobian=10)
    config.model_params.common_params.estimate_jacobian = False
    with pytest.raises(ConfigError, match="equivariance_jacobian"):
        check_train_params(config.train_params, config.model_params)
    config = tiny_config(generator_gan=1, feature_matching=[10])
    with pytest.raises(ConfigError, match="feature_matching"):
        check_train_params(config.train_params, config.model_params)
    config = tiny_config()
    config.train_params.transform_params = None
    with pytest.raises(ConfigError, match="transform_params"):
        check_train_params(config.train_params, config.model_params)
    config = tiny_config(generator_gan=1)
    config.model_params.discriminator_params.scales = [0.25]
    with pytest.raises(ConfigError, match="discriminator scales"):
        check_train_params(config.train_params, config.model_params)


def test_keypoint_separation_penalizes_stacked_keypoints():
    from fomm.training.losses import SEPARATION_SIGMA, keypoint_separation_loss

    stacked = Keypoints(torch.zeros(2, 4, 2))
    assert float(keypoint_separation_loss(stacked)) == pytest.approx(1.0)
    far = Keypoints(torch.tensor([[[-0.9, -0.9], [0.9, -0.9], [-0.9, 0.9], [0.9, 0.9]]]))
    assert float(keypoint_separation_loss(far)) < 1e-6
    two = Keypoints(torch.tensor([[[0.0, 0.0], [0.1, 0.0]]], requires_grad=True))
    loss = keypoint_separation_loss(two)
    assert loss.item() == pytest.approx(np.exp(-0.01 / (2 * SEPARATION_SIGMA**2)))
    loss.backward()
    grad = two.value.grad[0]
    assert grad[0, 0] > 0 and grad[1, 0] < 0  # descending the gradient moves them apart


def test_keypoint_separation_is_optional_and_weighted():
    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1, keypoint_separation=2.0)
    model = FOMM(config)
    loss = GeneratorLoss(model.kp_detector, model.generator, config.train_params)
    torch.manual_seed(0)
    losses, step = loss(_images(0), _images(1))
    from fomm.training.losses import keypoint_separation_loss

    expected = 2.0 * 0.5 * (keypoint_separation_loss(step.kp_source) + keypoint_separation_loss(step.kp_driving))
    torch.testing.assert_close(losses["keypoint_separation"], expected)
    config.train_params.loss_weights.keypoint_separation = 0
    assert "keypoint_separation" not in loss(_images(0), _images(1))[0]
