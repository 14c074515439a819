"""Exported models: ``export_onnx`` writes the networks as ONNX graphs, ``OnnxBackend`` animates with
them in onnxruntime (the optional extra ``fomm[onnx]``).

The names below are imported on first use, so that reading an export's manifest (``fomm info DIR``)
loads no animation code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {"ExportError": ".onnx", "export_onnx": ".onnx", "OnnxBackend": ".runtime", "load_onnx_backend": ".runtime"}

__all__ = ["ExportError", "OnnxBackend", "export_onnx", "load_onnx_backend"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:
    from .onnx import ExportError, export_onnx
    from .runtime import OnnxBackend, load_onnx_backend
