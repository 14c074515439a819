"""The MRAA model: the networks of one configuration, built together and kept with their config."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import torch
from torch import nn

from .avd_network import AVDNetwork
from .bg_motion_predictor import BGMotionPredictor
from .config import MRAAConfig, MRAAModelParams
from .generator import Generator
from .region_predictor import RegionPredictor
from .regions import Regions, regions_from_heatmap

# The published checkpoints' top-level network keys, in their order.
NETWORKS = ("generator", "region_predictor", "bg_predictor", "avd_network")


def build_region_predictor(params: MRAAModelParams) -> RegionPredictor:
    rp = dataclasses.asdict(params.region_predictor_params)
    del rp["pca_based"], rp["fast_svd"]  # pca_based is validated; the SVD is exact either way
    return RegionPredictor(num_regions=params.num_regions, num_channels=params.num_channels, **rp)


def build_generator(params: MRAAModelParams) -> Generator:
    return Generator(num_channels=params.num_channels, num_regions=params.num_regions,
                     revert_axis_swap=params.revert_axis_swap, **dataclasses.asdict(params.generator_params))


def build_bg_predictor(params: MRAAModelParams) -> BGMotionPredictor | None:
    if params.bg_predictor_params.bg_type == "zero":
        return None
    return BGMotionPredictor(num_channels=params.num_channels, **dataclasses.asdict(params.bg_predictor_params))


def build_avd_network(params: MRAAModelParams) -> AVDNetwork:
    return AVDNetwork(params.num_regions, **dataclasses.asdict(params.avd_network_params))


class MRAA(nn.Module):
    """Region predictor + generator (+ background predictor, + AVD network) of one configuration.

    Submodule names equal the published checkpoints' top-level keys. ``bg_predictor`` is None when
    ``bg_type`` is ``zero`` (the published mgif256 has none); ``avd_network`` is None when not asked for.
    """

    family = "mraa"

    def __init__(self, config: MRAAConfig, networks: Collection[str] = NETWORKS):
        super().__init__()
        self.config = config
        params = config.model_params
        self.generator = build_generator(params)
        self.region_predictor = build_region_predictor(params)
        self.bg_predictor = build_bg_predictor(params) if "bg_predictor" in networks else None
        self.avd_network = build_avd_network(params) if "avd_network" in networks else None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def detect_motion(self, images: torch.Tensor) -> Regions:
        """Each image's regions."""
        return self.region_predictor(images)

    def reconstruction_step(self, features: list[torch.Tensor], source: torch.Tensor, regions_source: Regions,
                            frames: torch.Tensor) -> tuple[torch.Tensor, Regions, torch.Tensor]:
        """Video reconstruction (paper Sec. 4): ``frames`` (B, C, H, W) generated from the source's
        ``features``, with the background motion between the source and each frame when the model
        has a background predictor. Returns the prediction, the frames' regions and their heatmaps."""
        heatmaps = self.region_predictor.heatmaps(frames)
        regions = regions_from_heatmap(heatmaps)
        bg_params = None
        if self.bg_predictor is not None:
            bg_params = self.bg_predictor(source.expand(frames.shape[0], *source.shape[1:]), frames)
        prediction = self.generator.decode(features, source, regions, regions_source, bg_params,
                                           visualize=False).prediction
        return prediction, regions, heatmaps

    def networks(self) -> dict[str, nn.Module]:
        return {name: net for name in NETWORKS if (net := getattr(self, name)) is not None}

    @property
    def align_corners(self) -> bool:
        return False

    def set_align_corners(self, value: bool) -> None:
        """MRAA was trained with grid_sample's PyTorch >= 1.3 default (align_corners=False) only."""
        if value:
            from ...config import ConfigError

            raise ConfigError("MRAA models sample with align_corners=False, as they were trained; "
                              "drop the align-corners option")
