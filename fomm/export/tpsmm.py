"""Export a TPSMM model to ONNX, and run the export with onnxruntime.

The graphs are what streaming animation runs:

- ``keypoints.onnx``: image (B, 3, S, S) -> the 5K control points (B, 5K, 2);
- ``source.onnx``: source (B, 3, S, S) -> the inpainting encoder's maps ``source_features_<i>``;
- ``decode.onnx``: the cached maps and source (batch 1 or B), the driving and source points and the
  fitted thin-plate splines (``tps_theta`` (B, K, 2, 3), ``tps_control_params`` (B, K, 5, 2)) ->
  prediction (B, 3, S, S);
- ``avd.onnx`` (when the checkpoint has an AVD network): source and driving points -> points.

What is not in the graphs: the fit of Eq. 2, an (5 + 3) x (5 + 3) linear solve per transform. ONNX has
no linear-solve or matrix-inverse operator (onnxruntime's Inverse is a contrib op of one provider), so
:class:`TPSMMOnnxBackend` solves the K small systems on the host with PyTorch (microseconds per frame)
and passes their parameters to ``decode.onnx``. The background predictor is not exported (animation does
not use it; reconstruction runs in PyTorch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..families.tpsmm.backend import TPSMMMotion
from ..families.tpsmm.config import parse_tpsmm_config, validate_frame_size
from ..families.tpsmm.model import TPSMM
from ..models import Keypoints
from ..models.tps import KeypointTPS
from ..models.tpsmm import POINTS_PER_TPS
from .onnx import FAMILY_FORMAT_VERSION, OPSET, prepare_export, write_family_export
from .runtime import SessionBackend

FORMAT_VERSION = FAMILY_FORMAT_VERSION


class _Keypoints(nn.Module):
    def __init__(self, model: TPSMM):
        super().__init__()
        self.kp_detector = model.kp_detector

    def forward(self, image):
        return self.kp_detector(image).value


class _Source(nn.Module):
    def __init__(self, model: TPSMM):
        super().__init__()
        self.inpainting_network = model.inpainting_network

    def forward(self, source):
        return tuple(self.inpainting_network.encode_source(source))


class _Decode(nn.Module):
    """Dense motion + inpainting with the TPS already fitted; the source side is broadcast to the batch."""

    def __init__(self, model: TPSMM):
        super().__init__()
        self.dense_motion_network, self.inpainting_network = model.dense_motion_network, model.inpainting_network

    def forward(self, source, kp_driving, kp_source, tps_theta, tps_control_params, *source_features):
        batch = kp_driving.shape[0]
        sources = source.expand(batch, -1, -1, -1)
        control_points = kp_driving.view(batch, -1, POINTS_PER_TPS, 2)
        tps = KeypointTPS.from_params(tps_theta, control_points, tps_control_params)
        motion = self.dense_motion_network(sources, Keypoints(kp_driving), Keypoints(kp_source.expand(batch, -1, -1)),
                                           tps=tps)
        return self.inpainting_network.decode(list(source_features), source, motion).prediction


class _AVD(nn.Module):
    def __init__(self, model: TPSMM):
        super().__init__()
        self.avd_network = model.avd_network

    def forward(self, kp_source, kp_driving):
        return self.avd_network(Keypoints(kp_source), Keypoints(kp_driving)).value


def export_tpsmm_onnx(model: TPSMM, out_dir: str | Path, *, size: int | None = None, opset: int = OPSET,
                      overwrite: bool = False) -> Path:
    """Write the graphs and ``fomm-onnx.json`` to ``out_dir`` (see the module docstring), atomically."""
    out, size, net = prepare_export(model, out_dir, size=size, opset=opset, overwrite=overwrite,
                                    check_size=validate_frame_size, needs="the dense motion")
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        kp = net.kp_detector(images).value
        features = net.inpainting_network.encode_source(images[:1])
        tps = net.dense_motion_network.fit(Keypoints(kp), Keypoints(kp[:1].flip(1).expand_as(kp)))
    feature_names = [f"source_features_{i}" for i in range(len(features))]
    graphs = {
        "keypoints": (_Keypoints(net), (images,), ["image"], ["kp"], ["image", "kp"]),
        "source": (_Source(net), (images[:1],), ["source"], feature_names, ["source", *feature_names]),
        "decode": (_Decode(net), (images[:1], kp, kp[:1], tps.theta, tps.control_params, *features),
                   ["source", "kp_driving", "kp_source", "tps_theta", "tps_control_params", *feature_names],
                   ["prediction"],
                   ["source", "kp_driving", "kp_source", "tps_theta", "tps_control_params", "prediction",
                    *feature_names]),
    }
    if net.avd_network is not None:
        graphs["avd"] = (_AVD(net), (kp[:1].expand_as(kp), kp), ["kp_source", "kp_driving"], ["kp"],
                         ["kp_source", "kp_driving", "kp"])
    return write_family_export(out, "tpsmm", model.config, model.config.model_params.common_params.num_channels,
                               size, int(kp.shape[1]), graphs, opset)


class TPSMMOnnxBackend(TPSMMMotion, SessionBackend):
    """A TPSMM export in onnxruntime sessions (float32); implements :class:`fomm.animation.Backend`. The
    TPS fit runs on the host (see the module docstring)."""

    def __init__(self, folder: str | Path, metadata: dict, sessions: dict):
        self.open(folder, metadata, sessions, parse_tpsmm_config)
        self.num_tps = self.config.model_params.common_params.num_tps

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        return Keypoints(torch.from_numpy(self._run("keypoints", image=self._array(images))[0]))

    def encode_source(self, source: torch.Tensor) -> list[np.ndarray]:
        return self._run("source", source=self._array(source))

    def avd(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        kp_source = kp_source.value.expand_as(kp_driving.value)
        return Keypoints(torch.from_numpy(self._run("avd", kp_source=self._array(kp_source),
                                                    kp_driving=self._array(kp_driving.value))[0]))

    def decode(self, features: list[np.ndarray], source: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints) -> torch.Tensor:
        batch = kp_driving.value.shape[0]
        tps = KeypointTPS(kp_driving.value.view(batch, self.num_tps, POINTS_PER_TPS, 2),
                          kp_source.value.expand_as(kp_driving.value).reshape(batch, self.num_tps, POINTS_PER_TPS, 2))
        inputs = {"source": self._array(source), "kp_driving": self._array(kp_driving.value),
                  "kp_source": self._array(kp_source.value), "tps_theta": self._array(tps.theta),
                  "tps_control_params": self._array(tps.control_params)}
        inputs.update({f"source_features_{i}": f for i, f in enumerate(features)})
        return torch.from_numpy(self._run("decode", **inputs)[0])
