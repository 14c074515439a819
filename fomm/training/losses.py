"""The training objective of FOMM (paper Sec. 3.5): multi-scale perceptual loss, optional LSGAN with
feature matching, and the equivariance constraints on keypoints and jacobians (Eq. 9-12).

:class:`GeneratorLoss` is one generator-side step (the original's ``GeneratorFullModel``): keypoints
of source and driving, the generated frame and every generator-side loss, in one module so that
DistributedDataParallel sees all of its parameters used in one forward. :class:`DiscriminatorLoss`
is the discriminator side (``DiscriminatorFullModel``). Loss names are the original's, so ``log.txt``
reads the same: ``perceptual``, ``gen_gan``, ``feature_matching``, ``equivariance_value``,
``equivariance_jacobian``, ``disc_gan``; plus our optional ``reconstruction_l1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ConfigError, ModelParams, TrainParams
from ..models import GeneratorOutput, ImagePyramid, Keypoints, MultiScaleDiscriminator, float32_math, inverse_2x2
from ..models.discriminator import DiscriminatorOutput
from .transforms import Transform
from .vgg import SLICE_ENDS, Vgg19

Pyramid = dict[float, torch.Tensor]


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """mean |a - b|, reduced in float32 (the inputs may be bf16/fp16 under autocast)."""
    return (a.float() - b.float()).abs().mean()


# ----------------------------------------------------------------------------------- the terms
def multiscale_l1(pyramid_generated: Pyramid, pyramid_real: Pyramid, scales: list[float]) -> torch.Tensor:
    """Our ``reconstruction_l1``: the L1 of the prediction at every scale of the pyramid, summed; where no
    ImageNet VGG-19 can be had (offline) it stands in for the perceptual term, and like it the coarse
    levels pull large motions into place."""
    return sum(_l1(pyramid_generated[s], pyramid_real[s]) for s in scales)


def perceptual_loss(vgg: Vgg19, pyramid_generated: Pyramid, pyramid_real: Pyramid, weights: list[float],
                    batched: bool = False) -> torch.Tensor:
    """Sum over scales s and VGG layers i of ``weights[i] * mean|vgg_i(generated_s) - vgg_i(real_s)|``.

    The real frame's features are targets (the original detaches them), so they are computed under
    ``no_grad``. Only the layers up to the last non-zero weight are run. ``batched`` runs generated
    and real through VGG in one call (same value; the backward then also covers the real half).
    """
    num_layers = max((i + 1 for i, w in enumerate(weights) if w != 0), default=0)
    total = torch.zeros((), device=next(iter(pyramid_generated.values())).device)
    if num_layers == 0:
        return total
    for scale, generated in pyramid_generated.items():
        if batched:
            both = vgg(torch.cat([generated, pyramid_real[scale]]), num_layers)
            pairs = [(f[: len(generated)], f[len(generated):].detach()) for f in both]
        else:
            with torch.no_grad():
                real = vgg(pyramid_real[scale], num_layers)
            pairs = list(zip(vgg(generated, num_layers), real, strict=True))
        for weight, (x, y) in zip(weights, pairs, strict=False):
            if weight != 0:
                total = total + weight * _l1(x, y)
    return total


def generator_gan_loss(disc_generated: dict[float, DiscriminatorOutput], weight: float) -> torch.Tensor:
    """LSGAN generator term: sum over discriminator scales of ``weight * mean((1 - D(generated))^2)``."""
    return sum(weight * ((1 - out.prediction_map.float()) ** 2).mean() for out in disc_generated.values())


def feature_matching_loss(disc_real: dict[float, DiscriminatorOutput], disc_generated: dict[float, DiscriminatorOutput],
                          weights: list[float]) -> torch.Tensor:
    """Sum over scales and discriminator blocks i of ``weights[i] * mean|D_i(real) - D_i(generated)|``."""
    total = 0
    for scale, generated in disc_generated.items():
        real = disc_real[scale]
        for weight, a, b in zip(weights, real.feature_maps, generated.feature_maps, strict=False):
            if weight != 0:
                total = total + weight * _l1(a, b)
    return total


def discriminator_gan_loss(disc_real: dict[float, DiscriminatorOutput],
                           disc_generated: dict[float, DiscriminatorOutput], weight: float) -> torch.Tensor:
    """LSGAN discriminator term: sum over scales of ``weight * mean((1 - D(real))^2 + D(generated)^2)``."""
    total = 0
    for scale, generated in disc_generated.items():
        real = disc_real[scale].prediction_map.float()
        total = total + weight * ((1 - real) ** 2 + generated.prediction_map.float() ** 2).mean()
    return total


def equivariance_value_loss(kp_driving: Keypoints, kp_transformed: Keypoints, transform: Transform) -> torch.Tensor:
    """Eq. 10 as implemented by the authors: ``mean|kp_driving - T(kp_transformed)|``, where
    ``kp_transformed`` are the keypoints of the driving frame warped by T."""
    return _l1(kp_driving.value, transform.warp_coordinates(kp_transformed.value.float()))  # T is float32 math


def equivariance_jacobian_loss(kp_driving: Keypoints, kp_transformed: Keypoints, transform: Transform,
                               revert_axis_swap: bool = False) -> torch.Tensor:
    """Eq. 12 in the authors' normalized form: ``mean|I - inv(J_driving) @ (dT(kp_t) @ J_t)|``.

    ``dT`` is the jacobian of T at the transformed keypoints (by autograd, so it stays differentiable).
    ``revert_axis_swap`` (MRAA's PCA affines, defined up to sign by the SVD): the product is negated
    where its top-left entry is negative, the rule by which MRAA's motion ignores the same half turn
    (:meth:`fomm.models.mraa.PixelwiseFlowPredictor.sparse_motions`).
    """
    with float32_math(kp_driving.value):
        jacobian_transformed = torch.matmul(transform.jacobian(kp_transformed.value.float()),
                                            kp_transformed.jacobian.float())
        value = torch.matmul(inverse_2x2(kp_driving.jacobian.float()), jacobian_transformed)
        if revert_axis_swap:
            value = torch.where(value[..., :1, :1] < 0, -value, value)
        eye = torch.eye(2, dtype=value.dtype, device=value.device).view(1, 1, 2, 2)
        return (eye - value).abs().mean()


SEPARATION_SIGMA = 0.15  # in normalized coordinates ([-1, 1] across the frame): ~5 px at 64 px


def keypoint_separation_loss(kp: Keypoints, sigma: float = SEPARATION_SIGMA) -> torch.Tensor:
    """Our extension (after Zhang et al. 2018, "Unsupervised discovery of object landmarks as structural
    representations", Eq. 5): ``mean over pairs i != j of exp(-|k_i - k_j|^2 / (2 sigma^2))``, 1 when all
    keypoints coincide, ~0 when they are more than ~3 sigma apart. It stops keypoints from stacking
    on one part; where they go instead is left to the reconstruction and equivariance terms."""
    value = kp.value.float()  # (B, K, 2)
    k = value.shape[1]
    if k < 2:
        return value.sum() * 0
    squared = (value.unsqueeze(2) - value.unsqueeze(1)).pow(2).sum(-1)  # (B, K, K)
    off_diagonal = ~torch.eye(k, dtype=torch.bool, device=value.device)
    return torch.exp(-squared / (2 * sigma**2))[:, off_diagonal].mean()


# --------------------------------------------------------------------------------- the modules
@dataclass
class GeneratorStep:
    """What one generator-side forward produced, besides the losses (for visualization and the
    discriminator step)."""

    kp_source: Keypoints
    kp_driving: Keypoints
    generated: GeneratorOutput
    pyramid_real: Pyramid
    pyramid_generated: Pyramid
    transformed_frame: torch.Tensor | None = None
    transformed_kp: Keypoints | None = None


def check_train_params(train: TrainParams, model: ModelParams) -> None:
    """Refuse loss settings the networks cannot honour, naming the config key."""
    w = train.loss_weights
    key = "train_params.loss_weights"
    if len(w.perceptual) > len(SLICE_ENDS):
        raise ConfigError(f"'{key}.perceptual' has {len(w.perceptual)} weights; VGG-19 gives {len(SLICE_ENDS)} layers")
    blocks = model.discriminator_params.num_blocks
    if w.generator_gan != 0 and any(w.feature_matching) and len(w.feature_matching) < blocks:
        raise ConfigError(f"'{key}.feature_matching' has {len(w.feature_matching)} weights for {blocks} "
                          "discriminator blocks (model_params.discriminator_params.num_blocks); give one per block")
    if w.generator_gan != 0 and not model.discriminator_params.scales:
        raise ConfigError(f"'{key}.generator_gan' is non-zero but 'model_params.discriminator_params.scales' is empty")
    if (w.equivariance_value or w.equivariance_jacobian) and train.transform_params is None:
        raise ConfigError(f"'{key}.equivariance_*' are non-zero but 'train_params.transform_params' is missing")
    if w.equivariance_jacobian and not model.common_params.estimate_jacobian:
        raise ConfigError(f"'{key}.equivariance_jacobian' must be 0 when "
                          "'model_params.common_params.estimate_jacobian' is false")
    if w.generator_gan != 0:
        missing = [s for s in model.discriminator_params.scales if s not in train.scales]
        if missing:
            raise ConfigError(f"discriminator scales {missing} are not in 'train_params.scales' {train.scales}")


class GeneratorLoss(nn.Module):
    """Keypoint detector + generator and all generator-side losses of one training step.

    ``forward(source, driving, discriminator)`` returns ``(losses, step)``: a dict of weighted loss
    tensors (only the enabled terms) and a :class:`GeneratorStep`. The discriminator is an argument,
    not a submodule: its weights are trained by :class:`DiscriminatorLoss`, and keeping them out of
    this module lets DDP wrap it without unused parameters. Give it with ``requires_grad`` off (the
    original discards the gradients this step leaves in it).
    """

    def __init__(self, kp_detector: nn.Module, generator: nn.Module, train_params: TrainParams,
                 vgg: Vgg19 | None = None, num_channels: int = 3, align_corners: bool = True,
                 batched_vgg: bool = False):
        super().__init__()
        self.kp_detector = kp_detector
        self.generator = generator
        self.train_params = train_params
        self.weights = train_params.loss_weights
        self.pyramid = ImagePyramid(train_params.scales, num_channels)
        if any(self.weights.perceptual) and vgg is None:
            raise ValueError("the perceptual loss weights are non-zero: give a VGG-19 (fomm.training.vgg.load_vgg19)")
        self.vgg = vgg if any(self.weights.perceptual) else None
        self.align_corners = align_corners
        self.batched_vgg = batched_vgg

    def forward(self, source: torch.Tensor, driving: torch.Tensor,
                discriminator: MultiScaleDiscriminator | None = None) -> tuple[dict[str, torch.Tensor], GeneratorStep]:
        w = self.weights
        # Same call order as the original: BN running statistics see source, driving, transformed.
        kp_source = self.kp_detector(source)
        kp_driving = self.kp_detector(driving)
        encoded = self.generator.encode_source(source)
        generated = self.generator.decode(encoded, source, kp_driving=kp_driving, kp_source=kp_source, visualize=False)
        with torch.no_grad():
            pyramid_real = self.pyramid(driving)
        pyramid_generated = self.pyramid(generated.prediction)
        step = GeneratorStep(kp_source, kp_driving, generated, pyramid_real, pyramid_generated)
        losses: dict[str, torch.Tensor] = {}

        if self.vgg is not None:
            losses["perceptual"] = perceptual_loss(self.vgg, pyramid_generated, pyramid_real, w.perceptual,
                                                   batched=self.batched_vgg)

        if w.generator_gan != 0:
            if discriminator is None:
                raise ValueError("generator_gan is non-zero: pass the discriminator")
            kp_value = kp_driving.value.detach()
            disc_generated = discriminator(pyramid_generated, kp_value)
            with torch.no_grad():  # targets of the feature matching only
                disc_real = discriminator(pyramid_real, kp_value)
            losses["gen_gan"] = generator_gan_loss(disc_generated, w.generator_gan)
            if any(w.feature_matching):
                losses["feature_matching"] = feature_matching_loss(disc_real, disc_generated, w.feature_matching)

        if w.equivariance_value != 0 or w.equivariance_jacobian != 0:
            tp = self.train_params.transform_params
            transform = Transform(driving.shape[0], tp.sigma_affine, tp.sigma_tps, tp.points_tps,
                                  device=driving.device, align_corners=self.align_corners,
                                  max_rotation=tp.max_rotation)
            step.transformed_frame = transform.transform_frame(driving)
            step.transformed_kp = self.kp_detector(step.transformed_frame)
            if w.equivariance_value != 0:
                losses["equivariance_value"] = w.equivariance_value * equivariance_value_loss(
                    kp_driving, step.transformed_kp, transform)
            if w.equivariance_jacobian != 0:
                losses["equivariance_jacobian"] = w.equivariance_jacobian * equivariance_jacobian_loss(
                    kp_driving, step.transformed_kp, transform)

        if w.keypoint_separation != 0:
            losses["keypoint_separation"] = w.keypoint_separation * 0.5 * (
                keypoint_separation_loss(kp_source) + keypoint_separation_loss(kp_driving))

        if w.reconstruction_l1 != 0:
            # Multi-scale like the perceptual term: coarse levels pull large motions into place.
            losses["reconstruction_l1"] = w.reconstruction_l1 * multiscale_l1(
                pyramid_generated, pyramid_real, self.train_params.scales)
        return losses, step


class DiscriminatorLoss(nn.Module):
    """The LSGAN discriminator loss on the pyramids of the generator step (generated detached,
    keypoints detached): ``{'disc_gan': ...}``."""

    def __init__(self, discriminator: MultiScaleDiscriminator, weight: float):
        super().__init__()
        self.discriminator = discriminator
        self.weight = weight

    def forward(self, pyramid_real: Pyramid, pyramid_generated: Pyramid, kp_value: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        kp_value = kp_value.detach()
        generated = {s: x.detach() for s, x in pyramid_generated.items()}
        disc_generated = self.discriminator(generated, kp_value)
        disc_real = self.discriminator(pyramid_real, kp_value)
        return {"disc_gan": discriminator_gan_loss(disc_real, disc_generated, self.weight)}
