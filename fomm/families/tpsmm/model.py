"""The TPSMM model: the networks of one configuration, built together and kept with their config."""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

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
        self.kp_detector = TPSKeypointDetector(common.num_tps, common.num_channels)
        self.dense_motion_network = TPSDenseMotionNetwork(
            dm.block_expansion, dm.num_blocks, dm.max_features, common.num_tps, common.num_channels,
            dm.scale_factor, common.multi_mask)
        self.avd_network = None
        if "avd_network" in networks:
            avd = mp.avd_network_params
            self.avd_network = AVDNetwork(common.num_tps * POINTS_PER_TPS, avd.id_bottle_size, avd.pose_bottle_size)
        self.bg_predictor = BGMotionPredictor(common.num_channels) if common.bg and "bg_predictor" in networks else None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def networks(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in NETWORKS if getattr(self, name) is not None}

    def set_align_corners(self, value: bool) -> None:
        """TPSMM was trained with ``align_corners=True`` throughout and only runs so."""
        if not value:
            raise ValueError("TPSMM models run with align_corners=True, as they were trained; drop align_corners")
