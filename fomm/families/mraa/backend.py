"""MRAA's animation backend: the contract of :class:`fomm.animation.backend.Backend` for region motion.

``keypoints`` gives each frame's :class:`~fomm.models.mraa.Regions`; ``normalize`` turns driving
regions into the regions to generate with, by the published demo's rules (``absolute`` is its
``standard``); ``encode_source`` caches the generator's source features (every encoder scale, for
the skips) and ``decode`` generates a batch of frames from them.
"""

from __future__ import annotations

from typing import Any

import torch

from ...animation.backend import ModeError, MotionRules, TorchBackend
from ...models.mraa import Regions
from ...models.mraa.config import validate_mraa_frame_size
from ...models.mraa.normalize import relative_regions
from ...precision import autocast

MRAAModeError = ModeError  # the name this module gave it first


class MRAAMotion(MotionRules):
    """MRAA's rules for the animator, shared by the backends that run MRAA networks (PyTorch, ONNX): its
    modes (the demo's default, AVD, first), its frame-size check and its relative rule."""

    family = "mraa"
    modes: tuple[str, ...] = ("avd", "relative", "absolute")
    default_adapt_scale = True  # the published demo's relative mode always scales by the region hulls
    no_avd = "this MRAA checkpoint has no avd_network: use --mode relative or absolute"
    motion_name = "regions"

    def check_size(self, size: int) -> None:
        validate_mraa_frame_size(self.config, size)

    def relative(self, kp_source: Regions, kp_driving: Regions, kp_initial: Regions, scale: float) -> Regions:
        """The motion since ``kp_initial`` carried onto the source: shifts scaled by the region hulls'
        ratio (MRAA's demo always scales), affines composed A_d A_d0^-1 A_s, the driving covariance kept."""
        return relative_regions(kp_source, kp_driving, kp_initial, scale)


class MRAABackend(MRAAMotion, TorchBackend):
    """An :class:`~fomm.models.mraa.MRAA` run by PyTorch: precision, channels-last and input placement as
    :class:`~fomm.animation.backend.TorchBackend`; the motion and the decoding are MRAA's."""

    def keypoints(self, images: torch.Tensor) -> Regions:
        with autocast(self.device, self.dtype):
            regions = self.model.region_predictor(images)  # the moments and the SVD are float32
        return regions.to(self.input_dtype)

    def encode_source(self, source: torch.Tensor) -> list[torch.Tensor]:
        with autocast(self.device, self.dtype):
            return self.model.generator.encode_source(source)

    def decode(self, features: Any, source: torch.Tensor, kp_driving: Regions, kp_source: Regions) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            prediction = self.model.generator.decode(features, source, kp_driving, kp_source,
                                                     visualize=False).prediction
        return prediction if prediction.dtype == self.input_dtype else prediction.to(self.input_dtype)
