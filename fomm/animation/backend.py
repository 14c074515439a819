"""The motion-model interface: what the animator needs from a model, whatever its family (FOMM, TPSMM,
MRAA) and whatever runs it (PyTorch at any precision, a compiled generator, an ONNX export).

A backend offers the four computations streaming animation is made of (FOMM paper Sec. 3.5, and the
same skeleton in its successors): the motion of a batch of frames (keypoints, thin-plate-spline control
points or regions), the source's features (once per source), the driving motion carried onto the source
(relative, absolute, or through an AVD network) and the decoding of a batch of motions against the
cached source features. The animator owns the loop; a backend owns the family's formulas and where and
how the arithmetic runs, so every model animates through the same :class:`~fomm.animation.Animator`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import torch

from ..config import Config, validate_frame_size
from ..errors import FommError
from ..model import FOMM
from ..models import Keypoints
from ..precision import NAMES, autocast, resolve_precision
from .normalize import movement_scale, normalize_kp

logger = logging.getLogger(__name__)

# How a model without an AVD network gets one (the message of --mode avd on such a model).
NO_AVD_FIX = ("train one with fomm train --stage avd --checkpoint RUN --out RUN-avd (RUN: its training run or "
              "checkpoint), or use --mode relative or absolute")


@runtime_checkable
class Motion(Protocol):
    """A batch of per-frame motion descriptions (FOMM's :class:`~fomm.models.Keypoints`, TPSMM's control
    points, MRAA's regions): ``value`` (B, N, 2) are points in normalized [-1, 1] coordinates, x first,
    which the animator draws, writes and compares poses with; the rest is the family's own."""

    value: torch.Tensor

    def to(self, *args, **kwargs) -> Motion: ...

    def __getitem__(self, index) -> Motion: ...

    def __len__(self) -> int: ...


@runtime_checkable
class Backend(Protocol):
    """The networks of one model, ready to run. Inputs are float (B, 3, S, S) images in [0, 1] placed
    by :meth:`to_input`; motions and predictions come back as float32 tensors on ``device``.

    ``family``: the model family ("fomm", "tpsmm", "mraa"); ``modes``: the animation modes it can run,
    its default first.
    """

    config: Any  # the family's config; ``config.frame_size`` is the training size
    device: torch.device
    precision: str  # fp32, bf16, fp16
    family: str
    modes: tuple[str, ...]

    def to_input(self, images: torch.Tensor) -> torch.Tensor: ...

    def check_size(self, size: int) -> None: ...

    def keypoints(self, images: torch.Tensor) -> Motion: ...

    def encode_source(self, source: torch.Tensor) -> Any: ...

    def normalize(self, kp_source: Motion, kp_driving: Motion, kp_initial: Motion | None, *, mode: str,
                  adapt_scale: bool) -> Motion: ...

    def decode(self, features: Any, source: torch.Tensor, kp_driving: Motion, kp_source: Motion) -> torch.Tensor: ...


class ModeError(FommError, ValueError):
    """The model cannot animate in the requested mode; the message says which it can."""


class MotionRules:
    """The animator's modes, which every family's motion follows (:class:`FommMotion`, TPSMM's and MRAA's),
    shared by each family's backends (PyTorch, compiled, ONNX): ``absolute`` animates with the driving
    motion itself, ``avd`` with the AVD network's (the source's shape in the driving pose; a backend with
    ``avd`` in its ``modes`` provides :meth:`avd`), ``relative`` by the family's :meth:`relative` rule
    from the initial driving frame, scaled by the ratio of the hulls with ``adapt_scale``. A family
    gives ``family``, ``modes``, ``no_avd`` (the message of ``avd`` without an AVD network),
    :meth:`check_size` and :meth:`relative`."""

    family: str
    modes: tuple[str, ...]
    default_adapt_scale = False
    no_avd = "this model has no avd_network: use --mode relative or absolute"
    motion_name = "keypoints"  # what the messages call the motion

    def check_size(self, size: int) -> None:
        raise NotImplementedError

    def avd(self, kp_source: Motion, kp_driving: Motion) -> Motion:
        raise NotImplementedError

    def relative(self, kp_source: Motion, kp_driving: Motion, kp_initial: Motion, scale: float) -> Motion:
        raise NotImplementedError

    def normalize(self, kp_source: Motion, kp_driving: Motion, kp_initial: Motion | None, *, mode: str,
                  adapt_scale: bool) -> Motion:
        """The motion to generate each driving frame with, in ``mode`` (see the class)."""
        if mode == "absolute":
            return kp_driving
        if mode == "avd":
            if "avd" not in self.modes:
                raise ModeError(self.no_avd)
            return self.avd(kp_source, kp_driving)
        if mode != "relative":
            raise ModeError(f"{self.family.upper()} animates in modes {', '.join(self.modes)}, not {mode!r}")
        if kp_initial is None:
            raise ModeError(f"relative mode needs the initial driving frame's {self.motion_name}")
        scale = movement_scale(kp_source, kp_initial) if adapt_scale else 1.0
        return self.relative(kp_source, kp_driving, kp_initial, scale)


class FommMotion(MotionRules):
    """FOMM's rules for the animator: relative and absolute modes (paper Sec. 3.5), ``avd`` when the model
    has an AVD network (our AVD stage, ``fomm train --stage avd``), its config's frame-size check."""

    family = "fomm"
    modes: tuple[str, ...] = ("relative", "absolute")
    no_avd = f"this FOMM model has no avd_network: {NO_AVD_FIX}"
    config: Config

    def check_size(self, size: int) -> None:
        validate_frame_size(self.config, size)

    def relative(self, kp_source: Keypoints, kp_driving: Keypoints, kp_initial: Keypoints, scale: float) -> Keypoints:
        """The keypoints' motion since ``kp_initial`` (value and jacobian) carried onto the source's."""
        return normalize_kp(kp_source, kp_driving, kp_initial, use_relative_movement=True,
                            use_relative_jacobian=True, scale=scale)


class TorchBackend(FommMotion):
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
        if getattr(model, "avd_network", None) is None:  # a checkpoint saved before its AVD stage
            self.modes = tuple(m for m in self.modes if m != "avd")
        elif "avd" not in self.modes:
            self.modes = (*self.modes, "avd")  # FOMM after its AVD stage
        logger.debug("torch backend: %s, %s, %s", self.device, self.precision, self.memory_format)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, self.input_dtype, non_blocking=True, memory_format=self.memory_format)

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        with autocast(self.device, self.dtype):
            kp = self.model.kp_detector(images)
        return kp if kp.value.dtype == self.input_dtype else kp.to(self.input_dtype)

    def avd(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        """The AVD network's keypoints, in float32 (a small MLP on coordinates)."""
        with torch.autocast(self.device.type, enabled=False):
            return self.model.avd_network(kp_source.to(torch.float32), kp_driving.to(torch.float32))

    def encode_source(self, source: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            return self.model.generator.encode_source(source)

    def decode(self, features: torch.Tensor, source: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            prediction = self.model.generator.decode(features, source, kp_driving, kp_source,
                                                     visualize=False).prediction
        return prediction if prediction.dtype == self.input_dtype else prediction.to(self.input_dtype)
