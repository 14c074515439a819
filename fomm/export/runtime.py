"""Run an exported model (:func:`fomm.export.export_onnx`) with onnxruntime, as an animator backend.

    backend = OnnxBackend("vox-onnx/")
    for frame in animate(backend, "face.png", "driving.mp4"):
        ...

The animator's loop, keypoint normalization and frame handling are the same as with PyTorch; only
the three network computations run in onnxruntime (float32, CPU by default).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
import yaml

from ..animation.backend import FommMotion
from ..config import parse_config
from ..models import Keypoints
from .onnx import GRAPHS, METADATA, ExportError, missing_extra

logger = logging.getLogger(__name__)


def _session(path: Path, providers: list[str], threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    # Threads that spin while waiting for work take cores from the decoder and encoder threads.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)


def load_onnx_backend(folder: str | os.PathLike, *, threads: int | None = None,
                      providers: list[str] | None = None):
    """The onnxruntime backend of an export of any family (its ``fomm-onnx.json`` names the family)."""
    meta_path = Path(folder) / METADATA
    family = json.loads(meta_path.read_text()).get("family", "fomm") if meta_path.is_file() else "fomm"
    if family not in ("tpsmm", "mraa"):
        return OnnxBackend(folder, threads=threads, providers=providers)
    try:
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError:
        raise missing_extra("onnxruntime") from None
    from .mraa import MRAAOnnxBackend
    from .tpsmm import TPSMMOnnxBackend

    metadata = json.loads(meta_path.read_text())
    sessions = {}
    for name, info in metadata["graphs"].items():
        path = Path(folder) / info["file"]
        if not path.is_file():
            raise ExportError(f"{path} is missing; re-export the model with fomm export")
        sessions[name] = _session(path, providers or ["CPUExecutionProvider"], threads or torch.get_num_threads())
    return (MRAAOnnxBackend if family == "mraa" else TPSMMOnnxBackend)(folder, metadata, sessions)


class OnnxBackend(FommMotion):
    """The three exported graphs in onnxruntime sessions; implements :class:`fomm.animation.Backend`.

    ``threads``: intra-op threads per session (default: ``torch.get_num_threads()``, as PyTorch would
    use). ``providers``: onnxruntime execution providers (default CPU; e.g.
    ``["CUDAExecutionProvider", "CPUExecutionProvider"]`` with onnxruntime-gpu).
    """

    precision = "fp32"

    def __init__(self, folder: str | os.PathLike, *, threads: int | None = None, providers: list[str] | None = None):
        try:
            import onnxruntime  # noqa: F401
        except ModuleNotFoundError:
            raise missing_extra("onnxruntime") from None
        self.folder = Path(folder)
        meta_path = self.folder / METADATA
        if not meta_path.is_file():
            raise ExportError(f"{self.folder} is not an exported fomm model (no {METADATA}); make one with "
                              "fomm export CKPT --format onnx -o DIR")
        self.metadata = json.loads(meta_path.read_text())
        if self.metadata.get("format") != "fomm-onnx":
            raise ExportError(f"{meta_path}: not a fomm ONNX export; re-export with fomm export")
        self.config = parse_config(yaml.safe_load(self.metadata["config"]))
        self.size = int(self.metadata["size"])
        self.align_corners = bool(self.metadata["align_corners"])
        self.jacobian = bool(self.metadata["jacobian"])
        self.device = torch.device("cpu")  # inputs and outputs are exchanged as CPU arrays
        providers = providers or ["CPUExecutionProvider"]
        self.sessions = {}
        for name, info in self.metadata["graphs"].items():
            path = self.folder / info["file"]
            if not path.is_file():
                raise ExportError(f"{path} is missing; re-export the model with fomm export")
            self.sessions[name] = _session(path, providers, threads or torch.get_num_threads())
        if set(self.sessions) != set(GRAPHS):
            raise ExportError(f"{meta_path}: expected the graphs {', '.join(GRAPHS)}; re-export the model")

    def _run(self, graph: str, **inputs: np.ndarray) -> list[np.ndarray]:
        return self.sessions[graph].run(None, inputs)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != (self.size, self.size):
            raise ExportError(f"this model was exported at {self.size} px, got frames of {tuple(images.shape[-2:])}; "
                              f"run it at --size {self.size} or export it again with --size")
        return images.detach().to("cpu", torch.float32).contiguous()

    @staticmethod
    def _array(tensor: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        outputs = self._run("keypoints", image=self._array(images))
        value = torch.from_numpy(outputs[0])
        return Keypoints(value, torch.from_numpy(outputs[1]) if self.jacobian else None)

    def encode_source(self, source: torch.Tensor) -> np.ndarray:
        return self._run("source", source=self._array(source))[0]

    def decode(self, features: np.ndarray, source: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints) -> torch.Tensor:
        inputs = {"source_features": features, "source": self._array(source),
                  "kp_driving": self._array(kp_driving.value), "kp_source": self._array(kp_source.value)}
        if self.jacobian:
            inputs["jacobian_driving"] = self._array(kp_driving.jacobian)
            inputs["jacobian_source"] = self._array(kp_source.jacobian)
        return torch.from_numpy(self._run("decode", **inputs)[0])
