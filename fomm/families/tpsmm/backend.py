"""A TPSMM model run by PyTorch for the animator (the Backend protocol of
:mod:`fomm.animation.backend`): its motion is the K x 5 TPS control points, its modes the authors' demo's
(``relative``, ``standard`` = our ``absolute``, ``avd``)."""

from __future__ import annotations

import torch

from ...animation.backend import ModeError, MotionRules, TorchBackend
from ...models import Keypoints
from ...precision import autocast
from .config import validate_frame_size

TPSMMModeError = ModeError  # the name this module gave it first


class TPSMMMotion(MotionRules):
    """TPSMM's rules for the animator, shared by the backends that run TPSMM networks (PyTorch, ONNX):
    its modes, its frame-size check and its relative rule (:meth:`relative`)."""

    family = "tpsmm"
    modes: tuple[str, ...] = ("relative", "absolute", "avd")
    default_adapt_scale = True  # the demo's relative mode always scales by the keypoint hulls
    no_avd = ("this TPSMM model has no avd_network (the checkpoint was saved before the AVD training stage): "
              "use --mode relative or absolute")

    def check_size(self, size: int) -> None:
        validate_frame_size(self.config, size)

    def relative(self, kp_source: Keypoints, kp_driving: Keypoints, kp_initial: Keypoints, scale: float) -> Keypoints:
        """The control points' motion since ``kp_initial`` carried onto the source's, times ``scale``
        (sqrt of the hull area of the source over that of the initial frame: the demo always scales)."""
        return Keypoints((kp_driving.value - kp_initial.value) * scale + kp_source.value)


class TPSMMBackend(TPSMMMotion, TorchBackend):
    """Precision, channels-last and input placement as :class:`~fomm.animation.backend.TorchBackend`;
    the motion, its normalization and the decoding are TPSMM's. The source's inpainting encoder
    features are computed once per source (:meth:`encode_source`) and broadcast over each batch."""

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
