"""A TPSMM model run by PyTorch for the animator (the Backend protocol of
:mod:`fomm.animation.backend`): its motion is the K x 5 TPS control points, its modes the authors' demo's
(``relative``, ``standard`` = our ``absolute``, ``avd``)."""

from __future__ import annotations

import torch

from ...animation.backend import TorchBackend
from ...errors import FommError
from ...models import Keypoints
from ...precision import autocast
from .config import validate_frame_size
from .model import TPSMM


class TPSMMModeError(FommError, ValueError):
    """The model cannot animate in the requested mode."""


class TPSMMMotion:
    """TPSMM's rules for the animator, shared by the backends that run TPSMM networks (PyTorch, ONNX):
    its modes, its frame-size check and the normalization of the control points (:meth:`normalize`).
    A backend provides ``config``, ``modes`` and :meth:`avd`."""

    family = "tpsmm"
    modes: tuple[str, ...] = ("relative", "absolute", "avd")
    default_adapt_scale = True  # the demo's relative mode always scales by the keypoint hulls

    def check_size(self, size: int) -> None:
        validate_frame_size(self.config, size)

    def avd(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        raise NotImplementedError

    def normalize(self, kp_source: Keypoints, kp_driving: Keypoints, kp_initial: Keypoints | None, *,
                  mode: str, adapt_scale: bool) -> Keypoints:
        """``absolute`` (the demo's ``standard``): the driving points; ``relative``: their motion since
        ``kp_initial`` carried onto the source's, times sqrt(hull area of the source / of the initial
        frame) when ``adapt_scale`` (the demo always scales); ``avd``: the AVD network's points with the
        source's identity in the driving pose."""
        from ...animation.normalize import movement_scale

        if mode == "absolute":
            return kp_driving
        if mode == "avd":
            if "avd" not in self.modes:
                raise TPSMMModeError("this TPSMM model has no avd_network (the checkpoint was saved before the "
                                     "AVD training stage): use --mode relative or absolute")
            return self.avd(kp_source, kp_driving)
        if mode != "relative":
            raise TPSMMModeError(f"TPSMM animates in modes {', '.join(self.modes)}, not {mode!r}")
        if kp_initial is None:
            raise TPSMMModeError("relative mode needs the initial driving frame's keypoints")
        scale = movement_scale(kp_source, kp_initial) if adapt_scale else 1.0
        return Keypoints((kp_driving.value - kp_initial.value) * scale + kp_source.value)


class TPSMMBackend(TPSMMMotion, TorchBackend):
    """Precision, channels-last and input placement as :class:`~fomm.animation.backend.TorchBackend`;
    the motion, its normalization and the decoding are TPSMM's. The source's inpainting encoder
    features are computed once per source (:meth:`encode_source`) and broadcast over each batch."""

    def __init__(self, model: TPSMM, **options):
        super().__init__(model, **options)
        if model.avd_network is None:
            self.modes = ("relative", "absolute")

    def avd(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        return self.model.avd_network(kp_source, kp_driving)

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        """The control points, always in float32 (:meth:`TPSMM.detect_motion`): the ResNet regresses
        coordinates directly, so bf16's 1/128 relative rounding would move them by pixels, which the TPS
        fit of nearby points amplifies; the detector is about 1% of a frame's arithmetic."""
        kp = self.model.detect_motion(images)
        return kp if kp.value.dtype == self.input_dtype else kp.to(self.input_dtype)

    def encode_source(self, source: torch.Tensor) -> list[torch.Tensor]:
        with autocast(self.device, self.dtype):
            return self.model.encode_source(source)

    def decode(self, features: list[torch.Tensor], source: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints) -> torch.Tensor:
        bs = kp_driving.value.shape[0]
        kp_source = Keypoints(kp_source.value.expand(bs, *kp_source.value.shape[1:]))
        with autocast(self.device, self.dtype):
            motion = self.model.dense_motion_network(source.expand(bs, *source.shape[1:]), kp_driving, kp_source)
            prediction = self.model.inpainting_network.decode(features, source, motion).prediction
        return prediction if prediction.dtype == self.input_dtype else prediction.to(self.input_dtype)
