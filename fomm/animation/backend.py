"""What runs the networks for the animator: PyTorch (any precision, channels-last) or an exported
model (``fomm.export.OnnxBackend``).

A backend offers the three computations streaming animation is made of (paper Sec. 3.5): the
keypoints of a batch of frames, the source's features (once per source) and the decoding of a batch
of driving keypoints against them. The animator owns the loop; a backend owns where and how the
arithmetic runs, so every backend animates through the same :class:`~fomm.animation.Animator`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import torch

from ..config import Config
from ..model import FOMM
from ..models import Keypoints
from ..precision import NAMES, autocast, resolve_precision

logger = logging.getLogger(__name__)


@runtime_checkable
class Backend(Protocol):
    """The networks of one model, ready to run. Inputs are float (B, 3, S, S) images in [0, 1] placed
    by :meth:`to_input`; keypoints and predictions come back as float32 tensors on ``device``."""

    config: Config
    device: torch.device
    precision: str  # fp32, bf16, fp16

    def to_input(self, images: torch.Tensor) -> torch.Tensor: ...

    def keypoints(self, images: torch.Tensor) -> Keypoints: ...

    def encode_source(self, source: torch.Tensor) -> Any: ...

    def decode(self, features: Any, source: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints) -> torch.Tensor: ...


class TorchBackend:
    """A :class:`~fomm.model.FOMM` run by PyTorch.

    ``precision``: ``fp32`` (exact), ``bf16``/``fp16`` (convolutions under autocast, the sensitive
    parts in float32; see :mod:`fomm.precision`) or ``auto``; a reduced precision the device only
    emulates is refused unless ``allow_slow``. ``channels_last`` (default on CPU and CUDA) moves the
    model's weights to that memory layout, in place: the same values, with convolutions that need no
    layout conversion (about 1.4x faster on a CPU).
    """

    def __init__(self, model: FOMM, *, precision: str | torch.dtype = "fp32", channels_last: bool | None = None,
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
        logger.debug("torch backend: %s, %s, %s", self.device, self.precision, self.memory_format)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, self.input_dtype, non_blocking=True, memory_format=self.memory_format)

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        with autocast(self.device, self.dtype):
            kp = self.model.kp_detector(images)
        return kp if kp.value.dtype == self.input_dtype else kp.to(self.input_dtype)

    def encode_source(self, source: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            return self.model.generator.encode_source(source)

    def decode(self, features: torch.Tensor, source: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            prediction = self.model.generator.decode(features, source, kp_driving, kp_source,
                                                     visualize=False).prediction
        return prediction if prediction.dtype == self.input_dtype else prediction.to(self.input_dtype)
