"""Training the Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022), as the authors' ``train.py``
and ``modules/model.py`` (``GeneratorFullModel``) do it.

One step: control points of source and driving; from epoch ``bg_start`` the background affine of
the bg predictor; the dense motion with TPS dropout (keep probability 1 - p per transform, p growing
linearly from ``dropout_startp`` by ``dropout_maxp`` every ``dropout_inc_epoch`` epochs, capped at
``dropout_maxp``, off from ``dropout_epoch``); the inpainted frame. Losses, named as in their log:
``perceptual`` (the VGG-19 pyramid), ``equivariance_value`` (the points of a randomly TPS-warped
driving frame, warped back), ``warp_loss`` (the driving frame's own encoder maps, masked, against the
warped source encoder maps, which only the motion can move) and ``bg`` (the background affine from
source to driving times the one back should be the identity); and our ``reconstruction_l1`` (FOMM's
multi-scale L1, for training offline without a VGG-19). Adam (betas 0.5, 0.999, weight decay
1e-4) over inpainting, dense motion and keypoint networks in one group (``optimizer``) and over the bg
predictor (``optimizer_bg_predictor``, stepped from ``bg_start``); gradients of the keypoint and
dense motion networks (and the bg predictor) clipped to an infinity norm of 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import clip_grad_norm_

from ...families.tpsmm.config import TPSMMConfig, TPSTrainParams
from ...families.tpsmm.model import TPSMM
from ...models import GeneratorOutput, ImagePyramid
from ...models.tps import RandomTPS
from ...models.tpsmm.inpainting import _resize_like, deform
from .. import distributed
from ..errors import TrainingError
from ..losses import GeneratorStep, multiscale_l1, perceptual_loss
from ..trainer import Trainer
from ..vgg import Vgg19, load_vgg19
from ..visualize import training_grid

RECONSTRUCTION_NETWORKS = ("inpainting_network", "kp_detector", "dense_motion_network", "bg_predictor")
CLIP_NORM = 10.0  # the authors' clip_grad_norm_(max_norm=10, norm_type=inf)
WEIGHT_DECAY = 1e-4


def dropout_probability(tp: TPSTrainParams, epoch: int) -> float | None:
    """The TPS dropout probability of ``epoch`` (None: no dropout), as the authors' schedule."""
    if epoch >= tp.dropout_epoch:
        return None
    return min(epoch / tp.dropout_inc_epoch * tp.dropout_maxp + tp.dropout_startp, tp.dropout_maxp)


def sample_random_tps(bs: int, tp: TPSTrainParams) -> RandomTPS:
    """The equivariance transform, drawn as the authors' ``TPS(mode='random')`` draws it (same calls,
    same order: the same seed gives the same transform)."""
    t = tp.transform_params
    noise = torch.normal(mean=0, std=t.sigma_affine * torch.ones([bs, 2, 3]))
    theta = noise + torch.eye(2, 3).view(1, 2, 3)
    control_params = torch.normal(mean=0, std=t.sigma_tps * torch.ones([bs, 1, t.points_tps**2]))
    return RandomTPS(theta, control_params)


def occluded(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Features times an occlusion mask (resized to them when it is another size)."""
    return features * _resize_like(mask, features.shape[2:]).to(features.dtype)


@dataclass
class TPSMMStep(GeneratorStep):
    """A step's outputs for the picture (GeneratorStep's fields; ``generated`` holds the prediction,
    the deformed source, the last occlusion mask and the optical flow)."""


class TPSMMLoss(nn.Module):
    """The networks and every loss of one TPSMM training step (``GeneratorFullModel``), in one module
    so that DDP sees all of its parameters in one forward. ``forward(source, driving, epoch)`` ->
    ``(losses, step)``."""

    def __init__(self, model: TPSMM, train_params: TPSTrainParams, vgg: Vgg19 | None):
        super().__init__()
        self.kp_detector = model.kp_detector
        self.dense_motion_network = model.dense_motion_network
        self.inpainting_network = model.inpainting_network
        self.bg_predictor = model.bg_predictor
        self.train_params = tp = train_params
        self.weights = tp.loss_weights
        self.pyramid = ImagePyramid(tp.scales, model.config.model_params.common_params.num_channels)
        if any(self.weights.perceptual) and vgg is None:
            raise ValueError("the perceptual loss weights are non-zero: give a VGG-19 (fomm.training.vgg.load_vgg19)")
        self.vgg = vgg if any(self.weights.perceptual) else None

    def background_on(self, epoch: int) -> bool:
        return self.bg_predictor is not None and epoch >= self.train_params.bg_start

    def forward(self, source: torch.Tensor, driving: torch.Tensor, epoch: int
                ) -> tuple[dict[str, torch.Tensor], TPSMMStep]:
        w, tp = self.weights, self.train_params
        kp_source = self.kp_detector(source)
        kp_driving = self.kp_detector(driving)
        bg_param = self.bg_predictor(source, driving) if self.background_on(epoch) else None
        motion = self.dense_motion_network(source, kp_driving, kp_source, bg_param,
                                           dropout_p=dropout_probability(tp, epoch))
        features = self.inpainting_network.encode_source(source)
        output = self.inpainting_network.decode(features, source, motion)
        with torch.no_grad():
            pyramid_real = self.pyramid(driving)
        pyramid_generated = self.pyramid(output.prediction)
        generated = GeneratorOutput(output.prediction, deformed=output.deformed,
                                    occlusion_map=motion.occlusion_map[-1], deformation=motion.deformation)
        step = TPSMMStep(kp_source, kp_driving, generated, pyramid_real, pyramid_generated)
        losses: dict[str, torch.Tensor] = {}
        if self.vgg is not None:
            losses["perceptual"] = perceptual_loss(self.vgg, pyramid_generated, pyramid_real, w.perceptual)
        if w.reconstruction_l1 != 0:
            losses["reconstruction_l1"] = w.reconstruction_l1 * multiscale_l1(pyramid_generated, pyramid_real,
                                                                              tp.scales)
        if w.equivariance_value != 0:
            transform = sample_random_tps(driving.shape[0], tp)
            transform = RandomTPS(transform.theta.to(driving.device), transform.control_params.to(driving.device))
            grid = transform.grid(*driving.shape[2:]).to(driving.dtype)
            step.transformed_frame = F.grid_sample(driving, grid, padding_mode="reflection", align_corners=True)
            step.transformed_kp = self.kp_detector(step.transformed_frame)
            warped = transform.warp_coordinates(step.transformed_kp.value)
            losses["equivariance_value"] = w.equivariance_value * (kp_driving.value.float() - warped).abs().mean()
        if w.warp_loss != 0:
            losses["warp_loss"] = w.warp_loss * self.warp_loss(features, driving, motion)
        if self.background_on(epoch) and w.bg != 0:
            reverse = self.bg_predictor(driving, source)
            eye = torch.eye(3, dtype=bg_param.dtype, device=bg_param.device).view(1, 1, 3, 3)
            losses["bg"] = w.bg * (eye - torch.matmul(bg_param, reverse)).abs().mean()
        return losses, step

    def warp_loss(self, source_features: list[torch.Tensor], driving: torch.Tensor, motion) -> torch.Tensor:
        """``sum_i mean|E_i(driving) * M_i - M_i * warp(E_i(source))|`` over the encoder levels, with the
        features and masks detached: only the optical flow learns from it (the authors' ``get_encode``
        against ``warped_encoder_maps``)."""
        masks = [m.detach() for m in motion.occlusion_map]
        levels = len(source_features)  # finest first: first, down_0 .. down_{n-1}
        # Level i (finest first) has mask levels - 1 - i (the masks are coarsest first); a single mask: resized.
        mask_of = [masks[levels - 1 - i] if len(masks) > 1 else masks[0] for i in range(levels)]
        inpainting = self.inpainting_network
        with torch.no_grad():
            out = inpainting.first(driving)
            own = [out]
            for block in inpainting.down_blocks:
                out = block(out)
                own.append(out)
        total = torch.zeros((), device=driving.device)
        for i in range(levels):
            warped = occluded(deform(source_features[i].detach(), motion.deformation), mask_of[i])
            total = total + (occluded(own[i], mask_of[i]).float() - warped.float()).abs().mean()
        return total


class TPSMMTrainer(Trainer):
    """:class:`~fomm.training.trainer.Trainer` for a :class:`~fomm.families.tpsmm.config.TPSMMConfig`:
    the same loop, data, logs, checkpoints, exact resume, precision and DDP; TPSMM's model, losses,
    optimizers (under the authors' keys) and step."""

    network_names = RECONSTRUCTION_NETWORKS
    scaler_names = ("generator",)

    def __init__(self, config: TPSMMConfig, *args, **kwargs):
        if not isinstance(config, TPSMMConfig):
            raise TypeError(f"TPSMMTrainer trains TPSMM configs, not {type(config).__name__}")
        super().__init__(config, *args, **kwargs)
        self.keypoint_monitor = None  # its measures read FOMM's heatmaps; TPSMM regresses points

    def _build(self, vgg: Vgg19 | None, batched_vgg: bool) -> None:
        tp, device = self.train_params, self.device
        w = tp.loss_weights
        if not (any(w.perceptual) or w.equivariance_value or w.warp_loss or w.reconstruction_l1):
            raise TrainingError("every loss weight in train_params.loss_weights is 0 (perceptual, equivariance_value, "
                                "warp_loss, reconstruction_l1): nothing to train")
        if tp.dropout_inc_epoch <= 0:
            raise TrainingError("train_params.dropout_inc_epoch must be positive (the epochs over which the TPS "
                                f"dropout grows), got {tp.dropout_inc_epoch}")
        self.gan = False
        self.model = TPSMM(self.config, RECONSTRUCTION_NETWORKS)
        if self.ctx.enabled:  # TPSMM's networks use instance norm, but the ResNets' batch norms sync
            for name in ("kp_detector", "bg_predictor"):
                if getattr(self.model, name) is not None:
                    setattr(self.model, name, distributed.sync_batchnorm(getattr(self.model, name), device))
        self.model.to(device).train()
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if any(w.perceptual) and vgg is None:
            vgg = load_vgg19()
        self.vgg_weights = vgg.weights if vgg is not None and any(w.perceptual) else None
        self.generator_loss = TPSMMLoss(self.model, tp, vgg).to(device)
        self.generator_step = distributed.wrap(self.generator_loss, self.ctx, device)
        self.discriminator_step = None

    def _make_optimizers(self, fused: bool) -> dict[str, torch.optim.Adam]:
        model, lr = self.model, self.train_params.lr_generator
        main = (list(model.inpainting_network.parameters()) + list(model.dense_motion_network.parameters())
                + list(model.kp_detector.parameters()))  # one group, in the authors' order
        groups = {"optimizer": main}
        if model.bg_predictor is not None:
            groups["bg_predictor"] = list(model.bg_predictor.parameters())
        with self._adam_kernel():
            return {name: torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999), weight_decay=WEIGHT_DECAY,
                                           fused=True if fused else None) for name, params in groups.items()}

    def configured_lr(self, name: str) -> float:
        return self.train_params.lr_generator

    def train_step(self, source: torch.Tensor, driving: torch.Tensor) -> tuple[dict[str, torch.Tensor], TPSMMStep]:
        source, driving = self._as_inputs(source, driving)
        with self.precision.autocast():
            losses, step = self.generator_step(source, driving, self.epoch)
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        scaler = self.scalers["generator"]
        scaler.scale(sum(losses.values())).backward()
        background = self.generator_loss.background_on(self.epoch)
        active = [self.optimizers["optimizer"]] + ([self.optimizers["bg_predictor"]] if background else [])
        for optimizer in active:
            scaler.unscale_(optimizer)
        clip_grad_norm_(self.model.kp_detector.parameters(), max_norm=CLIP_NORM, norm_type=math.inf)
        clip_grad_norm_(self.model.dense_motion_network.parameters(), max_norm=CLIP_NORM, norm_type=math.inf)
        if background:
            clip_grad_norm_(self.model.bg_predictor.parameters(), max_norm=CLIP_NORM, norm_type=math.inf)
        for optimizer in active:
            scaler.step(optimizer)
        scaler.update()
        return {k: v.detach() for k, v in losses.items()}, step

    def picture(self, source: torch.Tensor, driving: torch.Tensor, step: TPSMMStep):
        return training_grid(source, driving, step)


__all__ = ["TPSMMLoss", "TPSMMTrainer", "dropout_probability", "sample_random_tps"]
