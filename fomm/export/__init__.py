"""Exported models: ``export_onnx`` writes the networks as ONNX graphs, ``OnnxBackend`` animates with
them in onnxruntime (the optional extra ``fomm[onnx]``)."""

from .onnx import ExportError, export_onnx
from .runtime import OnnxBackend

__all__ = ["ExportError", "OnnxBackend", "export_onnx"]
