"""The TPSMM model: the networks of one configuration, built together and kept with their config."""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from ...config import ConfigError
from ...models import Keypoints, float32_math
from ...models.tpsmm import (
    POINTS_PER_TPS,
    AVDNetwork,
    BGMotionPredictor,
    InpaintingNetwork,
    TPSDenseMotionNetwork,
    TPSKeypointDetector,
)
from .config import TPSMMConfig

# The published checkpoints' networks, in their key order.
NETWORKS = ("inpainting_network", "kp_detector", "dense_motion_network", "avd_network", "bg_predictor")
REQUIRED = ("inpainting_network", "kp_detector", "dense_motion_network")


class TPSMM(nn.Module):
    """Keypoint detector, dense motion and inpainting networks, plus the AVD network (``avd`` mode)
    and the background predictor (reconstruction, training) when built.

    Submodule names equal the top-level keys of the published checkpoints.
    """

    family = "tpsmm"  # see fomm.families

    def __init__(self, config: TPSMMConfig, networks: Collection[str] = NETWORKS):
        super().__init__()
        unknown = set(networks) - set(NETWORKS)
        if unknown:
            raise ValueError(f"not TPSMM networks: {', '.join(sorted(unknown))}; known: {', '.join(NETWORKS)}")
        self.config = config
        mp = config.model_params
        common, gen, dm = mp.common_params, mp.generator_params, mp.dense_motion_params
        self.inpainting_network = InpaintingNetwork(common.num_channels, gen.block_expansion, gen.max_features,
                                                    gen.num_down_blocks, common.multi_mask)
        self.kp_detector = TPSKeypointDetector(common.num_tps, common.num_channels, common.resnet_width)
        self.dense_motion_network = TPSDenseMotionNetwork(
            dm.block_expansion, dm.num_blocks, dm.max_features, common.num_tps, common.num_channels,
            dm.scale_factor, common.multi_mask)
        self.avd_network = None
        if "avd_network" in networks:
            avd = mp.avd_network_params
            self.avd_network = AVDNetwork(common.num_tps * POINTS_PER_TPS, avd.id_bottle_size, avd.pose_bottle_size)
        self.bg_predictor = None
        if common.bg and "bg_predictor" in networks:
            self.bg_predictor = BGMotionPredictor(common.num_channels, common.resnet_width)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def networks(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in NETWORKS if getattr(self, name) is not None}

    def detect_motion(self, images: torch.Tensor) -> Keypoints:
        """Each image's K x 5 control points, in float32 (regressed coordinates; see the backend)."""
        with float32_math(images):
            return self.kp_detector(images)

    def encode_source(self, source: torch.Tensor) -> list[torch.Tensor]:
        """The source's inpainting encoder maps, computed once per source."""
        return self.inpainting_network.encode_source(source)

    def reconstruction_step(self, features: list[torch.Tensor], source: torch.Tensor, kp_source: Keypoints,
                            frames: torch.Tensor) -> tuple[torch.Tensor, Keypoints, None]:
        """Video reconstruction as the authors' ``reconstruction.py``: ``frames`` (B, C, H, W) generated
        from the source with the background motion (when the model has a bg_predictor). Returns the
        prediction, the frames' control points and None (no heatmaps: the points are regressed)."""
        kp_driving = self.detect_motion(frames)
        bs = len(frames)
        sources = source.expand(bs, *source.shape[1:])
        bg_param = None if self.bg_predictor is None else self.bg_predictor(sources, frames)
        motion = self.dense_motion_network(sources, kp_driving, Keypoints(kp_source.value.expand_as(kp_driving.value)),
                                           bg_param)
        return self.inpainting_network.decode(features, source, motion).prediction, kp_driving, None

    def set_align_corners(self, value: bool) -> None:
        """TPSMM was trained with ``align_corners=True`` throughout and only runs so."""
        if not value:
            raise ConfigError("TPSMM models run with align_corners=True, as they were trained: drop "
                              "--align-corners false (align_corners=False)")
