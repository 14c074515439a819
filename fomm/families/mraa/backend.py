"""MRAA's animation backend: the contract of :class:`fomm.animation.backend.Backend` for region motion.

``keypoints`` gives each frame's :class:`~fomm.models.mraa.Regions`; ``normalize`` turns driving
regions into the regions to generate with, by the published demo's rules (``absolute`` is its
``standard``); ``encode_source`` caches the generator's source features (every encoder scale, for
the skips) and ``decode`` generates a batch of frames from them.
"""

from __future__ import annotations

from typing import Any

import torch

from ...animation.backend import TorchBackend
from ...animation.normalize import movement_scale
from ...errors import FommError
from ...models.mraa import MRAA, Regions
from ...models.mraa.config import validate_mraa_frame_size
from ...models.mraa.normalize import relative_regions
from ...precision import autocast


class MRAAModeError(FommError, ValueError):
    """The model cannot animate in the requested mode."""


class MRAAMotion:
    """MRAA's rules for the animator, shared by the backends that run MRAA networks (PyTorch, ONNX): its
    modes (the demo's default, AVD, first), its frame-size check and :meth:`normalize`. A backend
    provides ``config``, ``modes`` and :meth:`avd`."""

    family = "mraa"
    modes: tuple[str, ...] = ("avd", "relative", "absolute")
    default_adapt_scale = True  # the published demo's relative mode always scales by the region hulls

    def check_size(self, size: int) -> None:
        validate_mraa_frame_size(self.config, size)

    def avd(self, kp_source: Regions, kp_driving: Regions) -> Regions:
        raise NotImplementedError

    def normalize(self, kp_source: Regions, kp_driving: Regions, kp_initial: Regions | None, *,
                  mode: str, adapt_scale: bool = True) -> Regions:
        """``absolute``: the driving regions; ``relative``: the motion since ``kp_initial`` carried onto
        the source (shift scaled by the region hulls unless ``adapt_scale`` is False; MRAA's demo
        always scales); ``avd``: the AVD network's regions of the source's shape in the driving pose."""
        if mode == "absolute":
            return kp_driving
        if mode == "avd":
            if "avd" not in self.modes:
                raise MRAAModeError("this MRAA checkpoint has no avd_network: use --mode relative or absolute")
            return self.avd(kp_source, kp_driving)
        if mode != "relative":
            raise MRAAModeError(f"MRAA animates in modes {', '.join(self.modes)}, not {mode!r}")
        if kp_initial is None:
            raise MRAAModeError("relative mode needs the initial driving frame's regions")
        scale = movement_scale(kp_source, kp_initial) if adapt_scale else 1.0
        return relative_regions(kp_source, kp_driving, kp_initial, scale)


class MRAABackend(MRAAMotion, TorchBackend):
    """An :class:`~fomm.models.mraa.MRAA` run by PyTorch: precision, channels-last and input placement as
    :class:`~fomm.animation.backend.TorchBackend`; the motion and the decoding are MRAA's."""

    def __init__(self, model: MRAA, **options):
        super().__init__(model, **options)
        if model.avd_network is None:
            self.modes = ("relative", "absolute")

    def keypoints(self, images: torch.Tensor) -> Regions:
        with autocast(self.device, self.dtype):
            regions = self.model.region_predictor(images)  # the moments and the SVD are float32
        return regions.to(self.input_dtype)

    def avd(self, kp_source: Regions, kp_driving: Regions) -> Regions:
        with torch.autocast(self.device.type, enabled=False):  # a small MLP on coordinates: float32
            return self.model.avd_network(kp_source.to(torch.float32), kp_driving.to(torch.float32))

    def encode_source(self, source: torch.Tensor) -> list[torch.Tensor]:
        with autocast(self.device, self.dtype):
            return self.model.generator.encode_source(source)

    def decode(self, features: Any, source: torch.Tensor, kp_driving: Regions, kp_source: Regions) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            prediction = self.model.generator.decode(features, source, kp_driving, kp_source,
                                                     visualize=False).prediction
        return prediction if prediction.dtype == self.input_dtype else prediction.to(self.input_dtype)
