"""MRAA's animation backend: the contract of :class:`fomm.animation.backend.Backend` for region motion.

``keypoints`` gives each frame's :class:`~fomm.models.mraa.Regions`; ``normalize`` turns driving
regions into the regions to generate with, by the published demo's rules (``absolute`` is its
``standard``); ``encode_source`` caches the generator's source features (every encoder scale, for
the skips) and ``decode`` generates a batch of frames from them.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ...animation.normalize import movement_scale
from ...config import ConfigError
from ...models.mraa import MRAA, Regions
from ...models.mraa.config import validate_mraa_frame_size
from ...models.mraa.normalize import relative_regions
from ...precision import NAMES, autocast, resolve_precision

logger = logging.getLogger(__name__)


class MRAABackend:
    """An :class:`~fomm.models.mraa.MRAA` run by PyTorch at ``precision`` (see :mod:`fomm.precision`),
    with channels-last weights when asked (default on CPU and CUDA)."""

    family = "mraa"
    default_adapt_scale = True  # the published demo's relative mode always scales by the region hulls

    def __init__(self, model: MRAA, *, precision: str | torch.dtype = "fp32", channels_last: bool | None = None,
                 allow_slow: bool = False):
        self.model = model
        self.config = model.config
        param = next(model.parameters())
        self.device = param.device
        self.input_dtype = param.dtype
        self.dtype = resolve_precision(precision, self.device, allow_slow)
        self.precision = NAMES[self.dtype]
        if channels_last is None:
            channels_last = self.device.type in ("cpu", "cuda")
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            model.to(memory_format=self.memory_format)
        # The default first: the published demo's AVD when the checkpoint has the network.
        self.modes = ("avd", "relative", "absolute") if model.avd_network is not None else ("relative", "absolute")
        logger.debug("mraa backend: %s, %s, %s", self.device, self.precision, self.memory_format)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, self.input_dtype, non_blocking=True, memory_format=self.memory_format)

    def check_size(self, size: int) -> None:
        validate_mraa_frame_size(self.config, size)

    def keypoints(self, images: torch.Tensor) -> Regions:
        with autocast(self.device, self.dtype):
            regions = self.model.region_predictor(images)
        return regions.to(self.input_dtype)

    def encode_source(self, source: torch.Tensor) -> list[torch.Tensor]:
        with autocast(self.device, self.dtype):
            return self.model.generator.encode_source(source)

    def normalize(self, kp_source: Regions, kp_driving: Regions, kp_initial: Regions | None, *,
                  mode: str, adapt_scale: bool = True) -> Regions:
        """``absolute``: the driving regions; ``relative``: the motion since ``kp_initial`` carried onto
        the source (shift scaled by the region hulls unless ``adapt_scale`` is False; MRAA's demo
        always scales); ``avd``: the AVD network's regions of the source's shape in the driving pose."""
        if mode == "absolute":
            return kp_driving
        if mode == "relative":
            if kp_initial is None:
                raise ValueError("relative mode needs the initial driving frame's regions (kp_initial)")
            scale = movement_scale(kp_source, kp_initial) if adapt_scale else 1.0
            return relative_regions(kp_source, kp_driving, kp_initial, scale)
        if mode == "avd":
            if self.model.avd_network is None:
                raise ConfigError("this MRAA checkpoint has no avd_network: use --mode relative or absolute")
            with torch.autocast(self.device.type, enabled=False):
                return self.model.avd_network(kp_source.to(torch.float32), kp_driving.to(torch.float32))
        raise ConfigError(f"unknown animation mode {mode!r} for MRAA: use one of {', '.join(self.modes)}")

    def decode(self, features: Any, source: torch.Tensor, kp_driving: Regions, kp_source: Regions) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            prediction = self.model.generator.decode(features, source, kp_driving, kp_source,
                                                     visualize=False).prediction
        return prediction if prediction.dtype == self.input_dtype else prediction.to(self.input_dtype)
