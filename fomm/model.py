"""The FOMM model: the networks of one configuration, built together and kept with their config."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .config import AVDNetworkParams, Config, ModelParams
from .models import KPDetector, MultiScaleDiscriminator, OcclusionAwareGenerator
from .models.avd import KeypointAVDNetwork


def build_kp_detector(params: ModelParams) -> KPDetector:
    return KPDetector(**dataclasses.asdict(params.kp_detector_params), **dataclasses.asdict(params.common_params))


def build_generator(params: ModelParams) -> OcclusionAwareGenerator:
    gen = dataclasses.asdict(params.generator_params)
    return OcclusionAwareGenerator(**gen, **dataclasses.asdict(params.common_params),
                                   align_corners=params.align_corners)


def build_discriminator(params: ModelParams) -> MultiScaleDiscriminator:
    common = dataclasses.asdict(params.common_params)
    common.pop("estimate_jacobian")
    return MultiScaleDiscriminator(**dataclasses.asdict(params.discriminator_params), **common)


def build_avd_network(params: ModelParams) -> KeypointAVDNetwork:
    """The AVD network over the keypoints (our extension); the default sizes when the config has none."""
    avd = params.avd_network_params or AVDNetworkParams()
    common = params.common_params
    return KeypointAVDNetwork(common.num_kp, common.estimate_jacobian, avd.id_bottle_size, avd.pose_bottle_size)


class FOMM(nn.Module):
    """Keypoint detector + generator (+ discriminator for training, + the AVD network of ``--mode avd``
    once its stage is trained) of one configuration.

    Submodule names equal the top-level keys of the published checkpoints, so
    ``state_dict()`` keys read ``kp_detector.*``, ``generator.*``, ``discriminator.*``.
    """

    family = "fomm"  # see fomm.families

    def __init__(self, config: Config, with_discriminator: bool = False, with_avd: bool = False):
        super().__init__()
        self.config = config
        # Registration order = the published checkpoints' key order.
        self.generator = build_generator(config.model_params)
        self.kp_detector = build_kp_detector(config.model_params)
        self.discriminator = build_discriminator(config.model_params) if with_discriminator else None
        self.avd_network = build_avd_network(config.model_params) if with_avd else None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def align_corners(self) -> bool:
        return self.config.model_params.align_corners

    def set_align_corners(self, value: bool) -> None:
        """Switch grid_sample semantics (True: as the checkpoints were trained; False: the
        original code on PyTorch >= 1.3)."""
        self.config.model_params.align_corners = value
        self.generator.align_corners = value
        if self.generator.dense_motion_network is not None:
            self.generator.dense_motion_network.align_corners = value

    def networks(self) -> dict[str, nn.Module]:
        nets = {"generator": self.generator, "kp_detector": self.kp_detector}
        if self.discriminator is not None:
            nets["discriminator"] = self.discriminator
        if self.avd_network is not None:
            nets["avd_network"] = self.avd_network
        return nets
