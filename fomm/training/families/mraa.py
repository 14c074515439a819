"""Training MRAA (Motion Representations for Articulated Animation; Siarohin et al., CVPR 2021), written
from the paper (Sec. 3.4; the authors' code carries no licence and is not used).

One step, as the paper trains the region predictor, the background motion predictor and the generator
end to end on video reconstruction: the regions of source and driving frame, the background motion
between them (``bg_type`` shift, affine or perspective; none for ``zero``), the driving frame generated
from the source. Losses, named as the config's ``loss_weights``:

- ``perceptual``: the VGG-19 pyramid of FOMM between the generated and the driving frame;
- ``equivariance_shift``: for a random affine + TPS warp T of the driving frame (FOMM's, with
  ``transform_params``), the shifts of the warped frame mapped back by T equal the driving frame's;
- ``equivariance_affine``: the affines agree the same way, ``|I - A_driving^-1 dT A_warped|``, where the
  PCA affines' sign (an SVD's, arbitrary) is read by the rule MRAA's motion reads it by.

No loss of its own trains the background predictor: the reconstruction does. One Adam (betas 0.5,
0.999, as in the authors' files) over the generator, region predictor and background predictor, stored
as ``optimizer_reconstruction``; the last completed epoch as ``epoch_reconstruction``. The order of the
parameters in its single group is the checkpoint's network order; the authors' files at hand hold no
optimizer moments, so that order could not be checked against theirs (the group's size is theirs).
"""

from __future__ import annotations

import logging
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...checkpoints import Checkpoint, read_checkpoint
from ...config import ConfigError
from ...io.draw import keypoint_colors
from ...io.frames import to_uint8
from ...models import GeneratorOutput, ImagePyramid
from ...models.mraa import MRAA, Regions
from ...models.mraa.config import MRAAConfig, MRAATrainParams
from ...models.mraa.generator import deform
from ...models.mraa.pixelwise_flow_predictor import covariance_heatmap
from .. import distributed
from ..errors import TrainingError
from ..losses import GeneratorStep, equivariance_jacobian_loss, equivariance_value_loss, perceptual_loss
from ..trainer import Trainer
from ..transforms import Transform
from ..vgg import SLICE_ENDS, Vgg19, load_vgg19
from ..visualize import training_grid

logger = logging.getLogger(__name__)

RECONSTRUCTION_NETWORKS = ("generator", "region_predictor", "bg_predictor")
BETAS = (0.5, 0.999)  # optimizer_reconstruction's in the authors' files


def check_mraa_train_params(tp: MRAATrainParams) -> None:
    """Refuse loss settings the networks cannot honour, naming the config key."""
    w, key = tp.loss_weights, "train_params.loss_weights"
    if not (any(w.perceptual) or w.equivariance_shift or w.equivariance_affine):
        raise TrainingError(f"every loss weight in {key} is 0 (perceptual, equivariance_shift, "
                            "equivariance_affine): nothing to train")
    if len(w.perceptual) > len(SLICE_ENDS):
        raise ConfigError(f"'{key}.perceptual' has {len(w.perceptual)} weights; VGG-19 gives {len(SLICE_ENDS)} layers")
    if (w.equivariance_shift or w.equivariance_affine) and tp.transform_params is None:
        raise ConfigError(f"'{key}.equivariance_*' are non-zero but 'train_params.transform_params' is missing")


class MRAALoss(nn.Module):
    """The networks and every loss of one MRAA training step, in one module so that DDP sees all of
    their parameters in one forward. ``forward(source, driving)`` -> ``(losses, step)``."""

    def __init__(self, model: MRAA, train_params: MRAATrainParams, vgg: Vgg19 | None):
        super().__init__()
        self.region_predictor = model.region_predictor
        self.generator = model.generator
        self.bg_predictor = model.bg_predictor
        self.train_params = train_params
        self.weights = train_params.loss_weights
        self.revert_axis_swap = model.config.model_params.revert_axis_swap
        self.pyramid = ImagePyramid(train_params.scales, model.config.model_params.num_channels)
        if any(self.weights.perceptual) and vgg is None:
            raise ValueError("the perceptual loss weights are non-zero: give a VGG-19 (fomm.training.vgg.load_vgg19)")
        self.vgg = vgg if any(self.weights.perceptual) else None

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> tuple[dict[str, torch.Tensor], GeneratorStep]:
        w = self.weights
        regions_source = self.region_predictor(source)
        regions_driving = self.region_predictor(driving)
        bg_params = self.bg_predictor(source, driving) if self.bg_predictor is not None else None
        out = self.generator.decode(self.generator.encode_source(source), source, regions_driving, regions_source,
                                    bg_params, visualize=False)
        with torch.no_grad():
            pyramid_real = self.pyramid(driving)
        pyramid_generated = self.pyramid(out.prediction)
        generated = GeneratorOutput(out.prediction, deformed=out.deformed, mask=out.mask,
                                    occlusion_map=out.occlusion_map, deformation=out.optical_flow)
        step = GeneratorStep(regions_source, regions_driving, generated, pyramid_real, pyramid_generated)
        losses: dict[str, torch.Tensor] = {}
        if self.vgg is not None:
            losses["perceptual"] = perceptual_loss(self.vgg, pyramid_generated, pyramid_real, w.perceptual)
        if w.equivariance_shift or w.equivariance_affine:
            losses.update(self.equivariance(driving, regions_driving, step))
        return losses, step

    def equivariance(self, driving: torch.Tensor, regions: Regions, step: GeneratorStep) -> dict[str, torch.Tensor]:
        """The two equivariance terms under a random warp T of the driving frame (sampled with
        ``align_corners=False``, as MRAA samples everything)."""
        w, t = self.weights, self.train_params.transform_params
        transform = Transform(driving.shape[0], t.sigma_affine, t.sigma_tps, t.points_tps, device=driving.device,
                              align_corners=False, max_rotation=t.max_rotation)
        step.transformed_frame = transform.transform_frame(driving)
        step.transformed_kp = transformed = self.region_predictor(step.transformed_frame)
        losses = {}
        if w.equivariance_shift:
            losses["equivariance_shift"] = w.equivariance_shift * equivariance_value_loss(regions, transformed,
                                                                                          transform)
        if w.equivariance_affine:
            losses["equivariance_affine"] = w.equivariance_affine * equivariance_jacobian_loss(
                regions, transformed, transform, revert_axis_swap=self.revert_axis_swap)
        return losses


class MRAATrainer(Trainer):
    """:class:`~fomm.training.trainer.Trainer` for an :class:`~fomm.models.mraa.MRAAConfig`: the same loop,
    data, logs, diagnostics (of the region predictor), checkpoints, exact resume, precision and DDP;
    MRAA's networks, losses, optimizer (under the authors' key) and step."""

    scaler_names = ("reconstruction",)
    epoch_key = "epoch_reconstruction"
    detector_name = "region_predictor"

    def __init__(self, config: MRAAConfig, *args, **kwargs):
        if not isinstance(config, MRAAConfig):
            raise TypeError(f"MRAATrainer trains MRAA configs, not {type(config).__name__}")
        super().__init__(config, *args, **kwargs)

    def resume(self, checkpoint: str | Path | Checkpoint) -> Checkpoint:
        ckpt = super().resume(checkpoint)
        _warn_stale_avd(ckpt)
        return ckpt

    def finetune(self, path: str | Path | Checkpoint) -> list[str]:
        ckpt = path if isinstance(path, Checkpoint) else read_checkpoint(path)
        skipped = super().finetune(ckpt)
        _warn_stale_avd(ckpt)
        return skipped

    def _build(self, vgg: Vgg19 | None, batched_vgg: bool) -> None:
        tp, device = self.train_params, self.device
        check_mraa_train_params(tp)
        self.gan = False
        self.model = MRAA(self.config, RECONSTRUCTION_NETWORKS)
        self.network_names = tuple(self.model.networks())  # no bg_predictor when bg_type is zero
        if self.ctx.enabled and tp.use_sync_bn:
            for name in self.network_names:
                setattr(self.model, name, distributed.sync_batchnorm(getattr(self.model, name), device))
        self.model.to(device).train()
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if any(tp.loss_weights.perceptual) and vgg is None:
            vgg = load_vgg19()
        self.vgg_weights = vgg.weights if vgg is not None and any(tp.loss_weights.perceptual) else None
        self.generator_loss = MRAALoss(self.model, tp, vgg).to(device)
        self.generator_step = distributed.wrap(self.generator_loss, self.ctx, device)
        self.discriminator_step = None

    def _make_optimizers(self, fused: bool) -> dict[str, torch.optim.Adam]:
        params = chain.from_iterable(net.parameters() for net in self.model.networks().values())
        with self._adam_kernel():
            return {"reconstruction": torch.optim.Adam(params, lr=self.train_params.lr, betas=BETAS,
                                                       fused=True if fused else None)}

    def configured_lr(self, name: str) -> float:
        return self.train_params.lr

    def train_step(self, source: torch.Tensor, driving: torch.Tensor) -> tuple[dict[str, torch.Tensor], GeneratorStep]:
        return self._single_optimizer_step(source, driving, "reconstruction")

    def picture(self, source: torch.Tensor, driving: torch.Tensor, step: GeneratorStep) -> np.ndarray:
        """FOMM's grid (regions drawn at their shifts), then the source's and the driving frame's regions."""
        generated = step.generated
        if generated.deformed is None and generated.deformation is not None:  # skips off: not computed
            with torch.no_grad():
                generated.deformed = deform(source, generated.deformation.detach())
        grid = training_grid(source, driving, step)
        n = grid.shape[0] // source.shape[2]
        size = tuple(source.shape[2:])
        maps = [to_uint8(region_map(regions[:n], size)) for regions in (step.kp_source, step.kp_driving)]
        return np.concatenate([grid, *(np.concatenate(list(m), axis=0) for m in maps)], axis=1)


def _warn_stale_avd(ckpt: Checkpoint) -> None:
    if "avd_network" in ckpt.state_dicts:
        logger.warning("the checkpoint's avd_network is left out of this run's checkpoints: it was trained on "
                       "the regions of the weights training now changes; train it again with --stage avd")


def region_map(regions: Regions, size: tuple[int, int]) -> torch.Tensor:
    """(B, 3, h, w) in [0, 1]: each pixel in the color of its strongest region (gist_rainbow, as the
    keypoints are drawn), by that region's Gaussian (its shift and covariance), over white."""
    with torch.no_grad():
        heat = covariance_heatmap(regions.detach().to(torch.float32), size)  # (B, K, h, w), 1 at the shifts
        strength, index = heat.max(dim=1, keepdim=True)
        colors = torch.from_numpy(keypoint_colors(heat.shape[1])).to(heat.device, torch.float32) / 255
        colored = colors[index[:, 0]].permute(0, 3, 1, 2)  # (B, 3, h, w)
        return colored * strength + (1 - strength)


__all__ = ["MRAALoss", "MRAATrainer", "check_mraa_train_params", "region_map"]
