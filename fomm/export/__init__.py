"""Exported models: ``export_onnx`` writes the networks as ONNX graphs, ``OnnxBackend`` animates with
them in onnxruntime (the optional extra ``fomm[onnx]``)."""

from .onnx import ExportError, export_onnx
from .runtime import OnnxBackend, load_onnx_backend

__all__ = ["ExportError", "OnnxBackend", "export_onnx", "load_onnx_backend"]
