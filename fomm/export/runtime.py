"""Run an exported model (:func:`fomm.export.export_onnx`) with onnxruntime, as an animator backend.

    backend = OnnxBackend("vox-onnx/")
    for frame in animate(backend, "face.png", "driving.mp4"):
        ...

The animator's loop, keypoint normalization and frame handling are the same as with PyTorch; only
the network computations run in onnxruntime (float32, CPU by default).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..animation.backend import FommMotion
from ..config import parse_config
from ..models import Keypoints
from .manifest import AGAIN, manifest_config, open_sessions, read_manifest, run_graph
from .onnx import METADATA, ExportError, input_names, missing_extra

logger = logging.getLogger(__name__)


def _session(path: Path, providers: list[str], threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.log_severity_level = 4  # fatal only: a failing graph is reported by our ExportError, in one line
    # Threads that spin while waiting for work take cores from the decoder and encoder threads.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)


def load_onnx_backend(folder: str | os.PathLike, *, threads: int | None = None,
                      providers: list[str] | None = None):
    """The onnxruntime backend of an export of any family (its ``fomm-onnx.json`` names the family)."""
    try:
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError:
        raise missing_extra("onnxruntime") from None
    manifest = read_manifest(folder)
    if manifest["family"] == "fomm":
        return OnnxBackend(folder, threads=threads, providers=providers)
    from .mraa import MRAAOnnxBackend
    from .tpsmm import TPSMMOnnxBackend

    sessions = open_sessions(folder, manifest, _maker(providers, threads))
    return (MRAAOnnxBackend if manifest["family"] == "mraa" else TPSMMOnnxBackend)(folder, manifest, sessions)


def _maker(providers: list[str] | None, threads: int | None):
    return lambda path: _session(path, providers or ["CPUExecutionProvider"], threads or torch.get_num_threads())


class SessionBackend:
    """What every onnxruntime backend shares: its graphs run by :func:`fomm.export.manifest.run_graph`,
    frames checked against the export's size, tensors exchanged as float32 CPU arrays. A family's backend
    (TPSMM, MRAA) is also built here from the opened ``sessions`` (:meth:`open`), its config parsed
    by ``parse`` and ``avd`` dropped from its modes when the export has no AVD graph."""

    precision = "fp32"
    modes: tuple[str, ...] = ()

    def open(self, folder: str | os.PathLike, metadata: dict, sessions: dict, parse) -> None:
        self.folder, self.metadata, self.sessions = Path(folder), metadata, sessions
        self.config = manifest_config(self.folder, metadata, parse)
        self.size = metadata["size"]
        self.device = torch.device("cpu")  # inputs and outputs are exchanged as CPU arrays
        if "avd" not in sessions:
            self.modes = tuple(m for m in self.modes if m != "avd")

    def _run(self, graph: str, **inputs: np.ndarray) -> list[np.ndarray]:
        return run_graph(self.folder, self.sessions, graph, inputs)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != (self.size, self.size):
            raise ExportError(f"this model was exported at {self.size} px, got frames of {tuple(images.shape[-2:])}; "
                              f"run it at --size {self.size} or export it again with --size")
        return images.detach().to("cpu", torch.float32).contiguous()

    @staticmethod
    def _array(tensor: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


class OnnxBackend(FommMotion, SessionBackend):
    """The exported graphs (four with an AVD network) in onnxruntime sessions; implements
    :class:`fomm.animation.Backend`.

    ``threads``: intra-op threads per session (default: ``torch.get_num_threads()``, as PyTorch would
    use). ``providers``: onnxruntime execution providers (default CPU; e.g.
    ``["CUDAExecutionProvider", "CPUExecutionProvider"]`` with onnxruntime-gpu).
    """

    def __init__(self, folder: str | os.PathLike, *, threads: int | None = None, providers: list[str] | None = None):
        try:
            import onnxruntime  # noqa: F401
        except ModuleNotFoundError:
            raise missing_extra("onnxruntime") from None
        self.folder = Path(folder)
        self.metadata = read_manifest(self.folder)
        if self.metadata["family"] != "fomm":
            raise ExportError(f"{self.folder} is a {self.metadata['family']} export; load it with "
                              "fomm.export.load_onnx_backend")
        self.config = manifest_config(self.folder, self.metadata, parse_config)
        try:
            self.align_corners, self.jacobian = bool(self.metadata["align_corners"]), bool(self.metadata["jacobian"])
        except KeyError as exc:
            raise ExportError(f"{self.folder / METADATA}: no {exc}; the export is damaged: {AGAIN}") from None
        self.size = self.metadata["size"]
        self.device = torch.device("cpu")  # inputs and outputs are exchanged as CPU arrays
        for name, info in self.metadata["graphs"].items():  # what _run feeds each graph
            if info["inputs"] != input_names(name, self.jacobian):
                raise ExportError(f"{self.folder / METADATA}: the {name} graph's inputs do not match its jacobian "
                                  f"setting; the export is damaged: {AGAIN}")
        self.sessions = open_sessions(self.folder, self.metadata, _maker(providers, threads))
        if "avd" in self.sessions:  # exported from a model after its AVD stage
            self.modes = (*self.modes, "avd")

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        outputs = self._run("keypoints", image=self._array(images))
        value = torch.from_numpy(outputs[0])
        return Keypoints(value, torch.from_numpy(outputs[1]) if self.jacobian else None)

    def encode_source(self, source: torch.Tensor) -> np.ndarray:
        return self._run("source", source=self._array(source))[0]

    def avd(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        inputs = {"kp_source": self._array(kp_source.value), "kp_driving": self._array(kp_driving.value)}
        if self.jacobian:
            inputs["jacobian_source"] = self._array(kp_source.jacobian)
            inputs["jacobian_driving"] = self._array(kp_driving.jacobian)
        outputs = [torch.from_numpy(a) for a in self._run("avd", **inputs)]
        return Keypoints(outputs[0], outputs[1] if self.jacobian else None)

    def decode(self, features: np.ndarray, source: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints) -> torch.Tensor:
        inputs = {"source_features": features, "source": self._array(source),
                  "kp_driving": self._array(kp_driving.value), "kp_source": self._array(kp_source.value)}
        if self.jacobian:
            inputs["jacobian_driving"] = self._array(kp_driving.jacobian)
            inputs["jacobian_source"] = self._array(kp_source.jacobian)
        return torch.from_numpy(self._run("decode", **inputs)[0])
