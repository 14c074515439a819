"""MRAA training (fomm.training.families.mraa). /work/shared/golden holds no training step of the
authors' MRAA code, and their code may not be read or run, so the parts are checked against values
worked out independently: the equivariance terms are ~0 for regions that move exactly with the warp
and take their closed-form values for known errors; each term of a step responds to what it measures;
a run resumes exactly; the authors' checkpoint format resumes and fine-tunes; the loss goes down."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fomm.checkpoints import read_checkpoint
from fomm.cli.main import main
from fomm.models.mraa import Regions
from fomm.training.families import trainer_class, training_dataset
from fomm.training.families.mraa import MRAATrainer
from fomm.training.losses import equivariance_jacobian_loss, equivariance_value_loss
from fomm.training.state import STATE_KEY
from fomm.training.trainer import latest_checkpoint
from fomm.training.transforms import Transform

from .family_helpers import golden_dir, mraa_tiny, mraa_tiny_dict
from .helpers import RandomPairs, assert_resumes_exactly

SIZE = 32
AUTHORS_KEYS = {"generator", "region_predictor", "bg_predictor", "optimizer_reconstruction", "epoch_reconstruction"}


def _trainer(tmp_path, config=None, dataset=None, vgg=None, **options) -> MRAATrainer:
    config = config or mraa_tiny(SIZE)
    options = {"device": "cpu", "tensorboard": False, "diagnostics": False, "visualize": False, **options}
    return MRAATrainer(config, dataset if dataset is not None else RandomPairs(4, SIZE), tmp_path, vgg=vgg,
                       **options)


def _batch(pairs, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    items = [pairs[i] for i in range(n)]
    return torch.stack([x["source"] for x in items]), torch.stack([x["driving"] for x in items])


def _smooth_images(n: int, seed: int) -> torch.Tensor:
    """Random low-frequency images (a resampled frame differs little from its original)."""
    coarse = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(SIZE, SIZE), mode="bicubic", align_corners=False).clamp(0, 1)


# ---------------------------------------------------------------------------- the equivariance terms
def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())  # the warp's jacobian is taken by autograd, with its graph


def _regions(bs: int = 2, k: int = 4, seed: int = 0) -> Regions:
    g = torch.Generator().manual_seed(seed)
    shift = torch.rand(bs, k, 2, generator=g) - 0.5
    angle = torch.rand(bs, k, generator=g) * 2 * math.pi
    rotation = torch.stack([torch.stack([angle.cos(), -angle.sin()], -1), torch.stack([angle.sin(), angle.cos()], -1)],
                           -2)
    scales = torch.diag_embed(0.05 + 0.2 * torch.rand(bs, k, 2, generator=g))
    affine = rotation @ scales
    return Regions(shift, affine, affine @ affine.transpose(-1, -2))


def _inverse_points(transform: Transform, points: torch.Tensor) -> torch.Tensor:
    """T^-1(points) by Newton's method (T is a small deformation of the identity)."""
    z = points.clone()
    for _ in range(20):
        residual = transform.warp_coordinates(z) - points
        z = (z - (torch.linalg.inv(transform.jacobian(z)) @ residual.unsqueeze(-1)).squeeze(-1)).detach()
    return z


def _moved_with(transform: Transform, regions: Regions) -> Regions:
    """The regions of the warped frame, if the predictor followed the warp exactly: a point mu of the
    frame is at T^-1(mu) in frame(T(.)), and its affine maps by dT^-1 there."""
    shift = _inverse_points(transform, regions.shift)
    affine = torch.linalg.inv(transform.jacobian(shift).detach()) @ regions.affine
    return Regions(shift, affine, affine @ affine.transpose(-1, -2))


@pytest.fixture
def warp() -> Transform:
    torch.manual_seed(3)
    return Transform(2, sigma_affine=0.1, sigma_tps=0.01, points_tps=5, align_corners=False)


def test_equivariance_is_zero_for_regions_that_move_with_the_warp(warp):
    regions = _regions()
    moved = _moved_with(warp, regions)
    assert _value(equivariance_value_loss(regions, moved, warp)) < 1e-5
    assert _value(equivariance_jacobian_loss(regions, moved, warp, revert_axis_swap=True)) < 1e-5
    # An SVD may give the warped frame's affine the other sign: no motion, so no loss, by MRAA's rule.
    flipped = Regions(moved.shift, -moved.affine, moved.covar)
    assert _value(equivariance_jacobian_loss(regions, flipped, warp, revert_axis_swap=True)) < 1e-5
    assert _value(equivariance_jacobian_loss(regions, flipped, warp)) == pytest.approx(1.0, abs=1e-4)  # |I - (-I)|


def test_equivariance_terms_measure_the_error_of_the_regions(warp):
    regions = _regions()
    moved = _moved_with(warp, regions)
    theta = 0.3  # every warped affine turned by theta: A^-1 dT A' = R(theta), mean|I - R| = (2(1-cos) + 2 sin) / 4
    c, s = math.cos(theta), math.sin(theta)
    turned = Regions(moved.shift, moved.affine @ torch.tensor([[c, -s], [s, c]]), moved.covar)
    expected = (2 * (1 - c) + 2 * s) / 4
    assert _value(equivariance_jacobian_loss(regions, turned, warp, revert_axis_swap=True)) == pytest.approx(
        expected, rel=1e-4)
    # A shift error d in the warped frame shows as T(mu' + d) - mu: for the affine part alone, theta_2x2 d.
    affine_only = Transform.from_params(warp.theta)
    moved = _moved_with(affine_only, regions)
    d = torch.tensor([0.1, -0.05])
    off = Regions(moved.shift + d, moved.affine, moved.covar)
    expected = (warp.theta[:, None, :, :2] @ d).abs().mean()
    assert _value(equivariance_value_loss(regions, off, affine_only)) == pytest.approx(float(expected), rel=1e-5)


# --------------------------------------------------------------------------------------- one step
@pytest.mark.parametrize("bg_type", ["zero", "shift", "affine", "perspective"])
def test_one_step_trains_every_network_of_the_configured_background(tmp_path, vgg, bg_type):
    data = mraa_tiny_dict(SIZE)
    data["model_params"]["bg_predictor_params"]["bg_type"] = bg_type
    from fomm.families import get_family

    trainer = _trainer(tmp_path, get_family("mraa").parse_config(data), vgg=vgg)
    networks = trainer.model.networks()
    assert ("bg_predictor" in networks) == (bg_type != "zero")
    (group,) = trainer.optimizers["reconstruction"].param_groups  # the authors' one group over every network
    assert len(group["params"]) == sum(len(list(n.parameters())) for n in networks.values())
    before = {name: [p.detach().clone() for p in net.parameters()] for name, net in networks.items()}
    losses, _ = trainer.train_step(*_batch(RandomPairs(2, SIZE)))
    assert set(losses) == {"perceptual", "equivariance_shift", "equivariance_affine"}
    assert all(math.isfinite(float(v)) and float(v) > 0 for v in losses.values())
    for name, net in networks.items():
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert any(float(g.abs().sum()) > 0 for g in grads), name  # the reconstruction trains bg_predictor too
        assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), before[name], strict=True)), name


def test_perceptual_term_compares_the_prediction_with_the_driving_frame(tmp_path, vgg):
    """With the occlusion map forced to 1 the prediction is the warped source, and a source equal to the
    driving frame gives the identity motion: the perceptual term is then far below that of another frame
    (not zero: the 8x8 identity flow, resized and sampled with align_corners=False as MRAA does, blurs
    the frame's edges; 2.3 against 9.5 here). Compared with the source instead, both would be ~2.3."""
    trainer = _trainer(tmp_path, mraa_tiny(SIZE, loss_weights={"perceptual": [10, 10, 0, 0, 0],
                                                               "equivariance_shift": 0, "equivariance_affine": 0}),
                       vgg=vgg)
    occlusion = trainer.model.generator.pixelwise_flow_predictor.occlusion
    with torch.no_grad():
        occlusion.weight.zero_()
        occlusion.bias.fill_(30.0)
        a, b = _smooth_images(2, seed=1), _smooth_images(2, seed=2)
        same = trainer.generator_loss(a, a)[0]
        other = trainer.generator_loss(a, b)[0]
    assert set(same) == {"perceptual"}
    assert float(same["perceptual"]) < 0.5 * float(other["perceptual"])


def test_equivariance_terms_grow_with_the_warp(tmp_path, vgg):
    """No warp (sigma 0): the warped frame is the driving frame (up to align_corners=False's resampling),
    so both terms are near zero; a large warp moves an untrained predictor's regions far off."""
    pairs = RandomPairs(2, SIZE)
    values = {}
    for sigma in (0.0, 0.3):
        config = mraa_tiny(SIZE, loss_weights={"perceptual": [0] * 5, "equivariance_shift": 1,
                                               "equivariance_affine": 1},
                           transform_params={"sigma_affine": sigma, "sigma_tps": sigma / 10, "points_tps": 5})
        trainer = _trainer(tmp_path, config, vgg=vgg)
        torch.manual_seed(0)
        losses, step = trainer.generator_loss(*_batch(pairs))
        values[sigma] = {k: float(v.detach()) for k, v in losses.items()}
        assert step.transformed_frame.shape == (2, 3, SIZE, SIZE)
    for name in ("equivariance_shift", "equivariance_affine"):
        assert values[0.0][name] < 0.1 * values[0.3][name], (name, values)


def test_bf16_step_is_finite_and_near_fp32(tmp_path, vgg):
    pairs = RandomPairs(2, SIZE)
    results = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        trainer = _trainer(tmp_path, vgg=vgg, precision=precision)
        torch.manual_seed(1)
        results[precision] = {k: float(v) for k, v in trainer.train_step(*_batch(pairs))[0].items()}
    for name, value in results["fp32"].items():
        assert results["bf16"][name] == pytest.approx(value, rel=0.05), name


@pytest.mark.parametrize("option", ["channels_last", "fused_adam"])
def test_channels_last_and_fused_adam_steps_equal_the_default_ones(tmp_path, vgg, option):
    """The same losses (1e-5) and gradients: within 1e-2 of each network's largest, since an untrained
    predictor's near-round regions put nearly equal singular values under the SVD, whose backward
    (1 / (s1^2 - s2^2)) magnifies channels-last's other summation order to 0.1-0.3% here (a wrong memory
    layout would be off by the whole gradient). Later steps are not compared for channels-last: the
    gradients of biases that a batch norm or the heatmaps' softmax cancel are rounding noise (~1e-9),
    which Adam's normalization turns into whole steps. The fused Adam's update is compared instead."""
    pairs = RandomPairs(2, SIZE)
    runs = []
    for enabled in (False, True):
        torch.manual_seed(0)
        trainer = _trainer(tmp_path, vgg=vgg, **{option: enabled})
        torch.manual_seed(10)  # the same warp
        losses = {k: float(v) for k, v in trainer.train_step(*_batch(pairs))[0].items()}
        runs.append((losses, trainer.model))
        if enabled and option == "channels_last":
            weight = trainer.model.region_predictor.regions.weight
            assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    (losses, model), (other_losses, other) = runs
    assert losses.keys() == other_losses.keys()
    assert all(other_losses[k] == pytest.approx(v, rel=1e-5) for k, v in losses.items()), (losses, other_losses)
    for name, net in model.networks().items():
        grads = dict(net.named_parameters())
        largest = max(float(p.grad.abs().max()) for p in grads.values())
        for key, p in other.networks()[name].named_parameters():
            torch.testing.assert_close(p.grad, grads[key].grad, rtol=0, atol=1e-2 * largest, msg=f"{name}.{key}")
            if option == "fused_adam":
                torch.testing.assert_close(p, grads[key], rtol=0, atol=1e-6, msg=f"{name}.{key}")


def test_picture_shows_each_region_in_its_color(tmp_path, vgg):
    from fomm.io.draw import keypoint_colors
    from fomm.training.families.mraa import region_map
    from fomm.training.visualize import training_grid

    trainer = _trainer(tmp_path, vgg=vgg)
    source, driving = _batch(RandomPairs(2, SIZE))
    _, step = trainer.train_step(source, driving)
    picture = trainer.picture(source, driving, step)
    assert picture.shape == (2 * SIZE, training_grid(source, driving, step).shape[1] + 2 * SIZE, 3)
    # Two regions far apart, centred on pixels (8, 8) and (23, 23) of [-1, 1]'s grid (pixel i at
    # -1 + 2i / (SIZE - 1)): each of those pixels has its region's color; far from both, white.
    pixels = [(8, 8), (23, 23)]
    shift = torch.tensor([[[-1 + 2 * x / (SIZE - 1), -1 + 2 * y / (SIZE - 1)] for x, y in pixels]])
    covar = torch.eye(2).expand(1, 2, 2, 2) * 0.01
    image = region_map(Regions(shift, covar.sqrt(), covar), (SIZE, SIZE))[0]
    colors = torch.from_numpy(keypoint_colors(2)).float() / 255
    for (x, y), color in zip(pixels, colors, strict=True):
        torch.testing.assert_close(image[:, y, x], color, atol=1e-5, rtol=0)
    torch.testing.assert_close(image[:, 0, SIZE - 1], torch.ones(3), atol=1e-3, rtol=0)


# ------------------------------------------------------------------------------- runs and checkpoints
@pytest.mark.slow
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path, vgg):
    """4 steps (2 epochs of 2) == 1 + resume + 2 (across the epoch end) + resume + 1; the files keep the
    authors' keys, ``epoch_reconstruction`` = the last completed epoch."""
    assert_resumes_exactly(lambda out, **options: _trainer(out, vgg=vgg, seed=5, **options), tmp_path, AUTHORS_KEYS,
                           "mraa", "epoch_reconstruction")


def test_the_authors_checkpoint_resumes_and_fine_tunes(tmp_path, vgg, caplog):
    """mraa-tiny.pth.tar is in the authors' format (their keys, epoch_reconstruction 99, no config): a run
    resumes it at epoch 100 with its weights and the learning rate decayed past both milestones, and
    writes a file with their keys back; --finetune takes every weight and starts at epoch 0."""
    golden = golden_dir() / "mraa-tiny.pth.tar"
    theirs = torch.load(golden, map_location="cpu", weights_only=True)
    data = mraa_tiny_dict(SIZE)
    data["train_params"].update(num_epochs=101, lr=2e-4, epoch_milestones=[60, 90])
    from fomm.families import get_family

    config = get_family("mraa").parse_config(data)
    trainer = _trainer(tmp_path / "resumed", config, RandomPairs(2, SIZE), vgg=vgg)
    with caplog.at_level("WARNING", logger="fomm.training.families.mraa"):
        trainer.resume(golden)
    assert any("avd_network is left out" in r.message and "--stage avd" in r.message for r in caplog.records)
    assert (trainer.epoch, trainer.batch_in_epoch) == (100, 0)
    for name, net in trainer.model.networks().items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, theirs[name][key]), (name, key)
    (group,) = trainer.optimizers["reconstruction"].param_groups
    assert group["lr"] == pytest.approx(2e-4 * 0.01)
    result = trainer.fit()
    assert result.steps == 1
    written = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert AUTHORS_KEYS <= set(written) and written["epoch_reconstruction"] == 100
    assert "avd_network" not in written and "optimizer_avd" not in written  # stale once the regions change
    ours, their_group = written["optimizer_reconstruction"], theirs["optimizer_reconstruction"]["param_groups"][0]
    assert set(ours["param_groups"][0]) == set(their_group) | {"initial_lr"}
    assert len(ours["param_groups"][0]["params"]) == len(their_group["params"]) == 106
    assert ours["param_groups"][0]["betas"] == their_group["betas"]
    assert all(torch.isfinite(v).all() for net in ("generator", "region_predictor") for v in written[net].values())

    tuned = _trainer(tmp_path / "tuned", mraa_tiny(SIZE), RandomPairs(2, SIZE), vgg=vgg)
    assert tuned.finetune(golden) == []
    assert tuned.epoch == 0
    for key, value in tuned.model.region_predictor.state_dict().items():
        assert torch.equal(value, theirs["region_predictor"][key]), key


@pytest.mark.slow
def test_loss_decreases_on_synthetic_videos(tmp_path, vgg):
    from fomm.data.synthetic import make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "data", num_videos=4, num_frames=8, size=SIZE, test_fraction=0.25).root
    data = mraa_tiny_dict(SIZE, num_epochs=1, num_repeats=16)
    data["dataset_params"]["root_dir"] = str(root)
    from fomm.families import get_family

    config = get_family("mraa").parse_config(data)
    trainer = _trainer(tmp_path / "run", config, training_dataset(config), vgg=vgg)
    history: list[dict[str, float]] = []
    trainer.fit(on_step=lambda step, losses: history.append(losses))
    assert len(history) == 24  # 3 training videos x 16 repeats / batch 2
    def mean(steps: list[dict[str, float]], name: str | None = None) -> float:
        return float(np.mean([h[name] if name else sum(h.values()) for h in steps]))

    # Seen: perceptual 2.77 -> 1.58, equivariance_shift 0.83 -> 0.54, equivariance_affine 2.06 -> 0.87 (the
    # equivariance terms vary with each step's random warp, so they are held to it in the sum only).
    assert mean(history[-6:], "perceptual") < 0.8 * mean(history[:6], "perceptual")
    assert mean(history[-6:]) < 0.8 * mean(history[:6])


@pytest.mark.slow
def test_fomm_train_trains_and_resumes_an_mraa_config(tmp_path, capsys):
    import yaml

    data = mraa_tiny_dict(SIZE, num_repeats=2)
    config = tmp_path / "mraa-tiny.yaml"
    config.write_text(yaml.safe_dump(data))
    assert main(["synth", str(tmp_path / "data"), "--videos", "3", "--frames", "4", "--size", str(SIZE)]) == 0
    common = ["--out", str(tmp_path / "run"), "--workers", "0", "--device", "cpu", "--vgg-random"]
    assert main(["train", "--config", str(config), "--data", str(tmp_path / "data"), "--max-steps", "2",
                 *common]) == 0
    assert main(["train", "--checkpoint", str(tmp_path / "run"), "--max-steps", "1", *common]) == 0
    out = capsys.readouterr().out
    assert "1 steps in" in out
    ckpt = read_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert ckpt.family == "mraa" and ckpt.extra[STATE_KEY]["global_step"] == 3
    assert (tmp_path / "run" / "train-vis" / "00000000-rec.png").exists()
    log = (tmp_path / "run" / "log.txt").read_text()  # the region predictor's diagnostics on fomm synth's parts
    assert log.startswith("00000000) perceptual - ") and "kp_part_hits_min" in log
    assert any((tmp_path / "run").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("preset", ["mraa-vox-256", "mraa-taichi-256", "mraa-ted-384", "mraa-ted-youtube-384",
                                    "mraa-mgif-256"])
def test_published_configs_train_with_the_mraa_trainer(preset):
    from fomm.families import read_config
    from fomm.training.families.mraa import check_mraa_train_params

    config = read_config(preset)[1]
    assert trainer_class(config) is MRAATrainer
    check_mraa_train_params(config.train_params)


@pytest.mark.slow
def test_two_processes_train_as_one_on_the_global_batch(tmp_path, dataset_dir):
    """``torchrun --nproc_per_node 2 ... fomm train`` (gloo, CPU): each rank trains on its half of the
    global batch, and both end with the weights of one process that minimizes the mean of the two
    halves' losses (what DDP's gradient averaging computes) from the ranks' random draws."""
    import os
    import subprocess
    import sys

    import yaml

    from .test_distributed import REPO, _restore, _snapshot

    steps, world = 4, 2
    data = mraa_tiny_dict(SIZE, num_repeats=2)
    config = tmp_path / "mraa.yaml"
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(world),
               str(REPO / "tests" / "training" / "ddp_worker.py"), "--config", str(config), "--data",
               str(dataset_dir), "--out", str(out), "--workers", "0", "--device", "cpu", "--vgg-random",
               "--max-steps", str(steps)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(world)]
    assert [r["steps"] for r in ranks] == [steps] * world
    assert not set(ranks[0]["indices"]) & set(ranks[1]["indices"])  # the halves are different samples

    from fomm.families import get_family
    from fomm.training.vgg import load_vgg19

    reference = _trainer(tmp_path / "one", get_family("mraa").parse_config(data), RandomPairs(8, SIZE),
                         vgg=load_vgg19(None, allow_random=True, download=False), seed=0)
    model, optimizer = reference.model, reference.optimizers["reconstruction"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, ranks[0]["initial"][key], rtol=0, atol=0, msg=key)
    for k in range(steps):
        start = _snapshot(model)
        optimizer.zero_grad(set_to_none=True)
        for r, rank in enumerate(ranks):
            batch = rank["batches"][k]
            _restore(model, start)
            torch.set_rng_state(batch["rng"])
            losses, _ = reference.generator_loss(batch["source"], batch["driving"])
            (sum(losses.values()) / world).backward()
            if r == 0:
                after = _snapshot(model)
        _restore(model, after)  # rank 0's batch-norm statistics are the ones DDP broadcasts
        optimizer.step()
    for key, value in model.state_dict().items():
        for rank in ranks:
            torch.testing.assert_close(rank["model"][key], value, rtol=0, atol=1e-6, msg=key)
    moved = max(float((ranks[0]["model"][k] - v).abs().max()) for k, v in ranks[0]["initial"].items()
                if v.is_floating_point())
    assert moved > 100 * 1e-6
    assert [p.name for p in out.glob("*.pth.tar")] == ["00000000-checkpoint.pth.tar"]  # rank 0 only


def _kill_config(path, data_dir) -> None:
    """The tiny MRAA config at 32 px, 16 epochs (more than the kills get through), lr decayed after 8."""
    import yaml

    data = mraa_tiny_dict(SIZE, num_epochs=16, num_repeats=2, epoch_milestones=[8])
    data["dataset_params"]["root_dir"] = str(data_dir)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.slow
def test_sigkill_of_mraa_training_never_corrupts_a_run(tmp_path, monkeypatch):
    from .family_kill import kill_resume_and_finish

    kill_resume_and_finish(tmp_path, monkeypatch, "mraa", _kill_config, AUTHORS_KEYS, size=SIZE,
                           epoch_key="epoch_reconstruction", extra=("--vgg-random",))
