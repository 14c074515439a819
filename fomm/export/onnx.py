"""Export a FOMM model to ONNX: the graphs that together are what streaming animation runs.

- ``keypoints.onnx``: image (B, 3, S, S) in [0, 1] -> keypoints (B, K, 2) [and jacobians (B, K, 2, 2)];
- ``source.onnx``: source image (B, 3, S, S) -> the generator's source features, computed once per
  source (``OcclusionAwareGenerator.encode_source``);
- ``decode.onnx``: the per-frame part of the generator (``decode``): the cached source features and
  source image (batch 1 or B), the driving and source keypoints -> prediction (B, 3, S, S);
- ``avd.onnx`` (when the model has an AVD network, ``fomm train --stage avd``): the source's (batch 1 or
  B) and the driving keypoints [and jacobians] -> keypoints [and jacobians] of ``--mode avd``.

The batch is dynamic; the frame size is fixed at export (the dense motion's coordinate grids are
constants of the graph). ``grid_sample`` needs opset 16 (``GridSample``); both ``align_corners``
settings export and are recorded. ``fomm-onnx.json`` (and each graph's metadata) holds the config
(YAML), the size, ``align_corners``, the keypoint count and the tensor names, so an app can run the
graphs without PyTorch (see :class:`fomm.export.OnnxBackend` for the reference use).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..config import validate_frame_size
from ..errors import FommError
from ..io.outputs import check_folder_output, publish_folder
from ..model import FOMM
from ..models import Keypoints

logger = logging.getLogger(__name__)

OPSET = 17  # >= 16 for GridSample; 17 has LayerNormalization etc. and runs on onnxruntime >= 1.13
METADATA = "fomm-onnx.json"
# Every family's graphs; "avd" only in the export of a model with an AVD network.
GRAPHS = {"keypoints": "keypoints.onnx", "source": "source.onnx", "decode": "decode.onnx", "avd": "avd.onnx"}
# 2: FOMM exports may hold avd.onnx (a fomm that reads only 1 would call it an unknown graph, so an export
# with it says 2 and such a fomm asks to be upgraded); an export without it stays 1.
FORMAT_VERSION = 2
FAMILY_FORMAT_VERSION = 1  # TPSMM's and MRAA's (their exports had avd.onnx from the start)


class ExportError(FommError, RuntimeError):
    """The model cannot be exported as asked; the message says what to change."""


def missing_extra(package: str) -> ExportError:
    return ExportError(f"{package} is not installed; install the ONNX extra: pip install 'fomm[onnx]'")


class _KeypointGraph(nn.Module):
    def __init__(self, kp_detector: nn.Module):
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image: torch.Tensor):
        kp = self.kp_detector(image)
        return (kp.value,) if kp.jacobian is None else (kp.value, kp.jacobian)


class _SourceGraph(nn.Module):
    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.generator.encode_source(source)


class _DecodeGraph(nn.Module):
    """``decode`` with plain tensor inputs; the source side (batch 1 or B) is broadcast to the
    driving batch inside the graph, so one cached source serves batches of any size."""

    def __init__(self, generator: nn.Module, jacobian: bool):
        super().__init__()
        self.generator = generator
        self.jacobian = jacobian

    def forward(self, source_features, source, kp_driving, kp_source, jacobian_driving=None, jacobian_source=None):
        batch = kp_driving.shape[0]
        source_features = source_features.expand(batch, -1, -1, -1)
        source = source.expand(batch, -1, -1, -1)
        kp_source = kp_source.expand(batch, -1, -1)
        if jacobian_source is not None:
            jacobian_source = jacobian_source.expand(batch, -1, -1, -1)
        return self.generator.decode(source_features, source, Keypoints(kp_driving, jacobian_driving),
                                     Keypoints(kp_source, jacobian_source), visualize=False).prediction


class _AVDGraph(nn.Module):
    """The AVD network on plain tensors; the source's keypoints (batch 1 or B) are broadcast by it."""

    def __init__(self, avd_network: nn.Module):
        super().__init__()
        self.avd_network = avd_network

    def forward(self, kp_source, kp_driving, jacobian_source=None, jacobian_driving=None):
        kp = self.avd_network(Keypoints(kp_source, jacobian_source), Keypoints(kp_driving, jacobian_driving))
        return (kp.value,) if kp.jacobian is None else (kp.value, kp.jacobian)


def input_names(graph: str, jacobian: bool) -> list[str]:
    """The input tensor names of each graph, in order."""
    if graph == "keypoints":
        return ["image"]
    if graph == "source":
        return ["source"]
    if graph == "avd":
        return ["kp_source", "kp_driving"] + (["jacobian_source", "jacobian_driving"] if jacobian else [])
    names = ["source_features", "source", "kp_driving", "kp_source"]
    return names + (["jacobian_driving", "jacobian_source"] if jacobian else [])


def output_names(graph: str, jacobian: bool) -> list[str]:
    if graph in ("keypoints", "avd"):
        return ["kp", "jacobian"] if jacobian else ["kp"]
    return ["source_features"] if graph == "source" else ["prediction"]


def _export(module: nn.Module, args: tuple, path: Path, graph: str, jacobian: bool, opset: int,
            dynamic: list[str]) -> None:
    names_in, names_out = input_names(graph, jacobian), output_names(graph, jacobian)
    axes = {name: {0: "batch"} for name in dynamic + names_out}
    with warnings.catch_warnings():
        # The TorchScript exporter notes each shape it reads as a Python value and each strided slice it
        # cannot fold; the graphs are checked against PyTorch by the tests, at several batch sizes.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=names_in, output_names=names_out,
                          dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)


def _add_metadata(path: Path, metadata: dict) -> None:
    import onnx

    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    proto.producer_name, proto.producer_version = "fomm", __version__
    onnx.save(proto, str(path))


def prepare_export(model: nn.Module, out_dir: str | Path, *, size: int | None, opset: int, overwrite: bool,
                   check_size: Callable[[Any, int], None], needs: str) -> tuple[Path, int, nn.Module]:
    """What every family's export checks before any work (the onnx package, the opset ``needs``'
    GridSample, the output folder, the frame size by ``check_size(config, size)``), and the float32,
    contiguous, eval-mode copy on the CPU it traces (the caller's model keeps its placement and mode).
    Returns the output folder, the size and the copy."""
    try:
        import onnx  # noqa: F401 (metadata; checked before any work)
    except ModuleNotFoundError:
        raise missing_extra("onnx") from None
    if opset < 16:
        raise ExportError(f"opset {opset} has no GridSample (needed by {needs}); use opset >= 16")
    # Replaced only if fomm made it (its marker, or nothing but an export's files), never a user's folder.
    out = check_folder_output(out_dir, overwrite=overwrite, legacy=(*GRAPHS.values(), METADATA))
    size = int(size or model.config.frame_size)
    check_size(model.config, size)
    return out, size, copy.deepcopy(model).to("cpu", torch.float32, memory_format=torch.contiguous_format).eval()


# name -> (module, example inputs, input names, output names, the names whose axis 0 is the batch)
Graphs = dict[str, tuple[nn.Module, tuple, list[str], list[str], list[str]]]


def write_family_export(out: Path, family: str, config: Any, num_channels: int, size: int, num_kp: int,
                        graphs: Graphs, opset: int) -> Path:
    """A successor family's export (TPSMM, MRAA): each graph traced into a temporary folder beside
    ``out`` with the embedded metadata, the manifest written (its ``config``: ``config`` at ``size``),
    then the folder published in one rename; a failure leaves nothing."""
    config = copy.deepcopy(config)
    config.dataset_params.frame_shape = [size, size, num_channels]
    metadata = {
        "format": "fomm-onnx", "family": family, "format_version": FAMILY_FORMAT_VERSION, "fomm_version": __version__,
        "opset": opset, "size": size, "num_kp": num_kp, "config": config.to_yaml(),
        "graphs": {name: {"file": GRAPHS[name], "inputs": g[2], "outputs": g[3]} for name, g in graphs.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        for name, (module, args, names_in, names_out, dynamic) in graphs.items():
            with warnings.catch_warnings():  # the tracer's notes on shapes read as Python values
                warnings.simplefilter("ignore")
                torch.onnx.export(module.eval(), args, str(tmp / GRAPHS[name]), input_names=names_in,
                                  output_names=names_out, dynamic_axes={n: {0: "batch"} for n in dynamic},
                                  opset_version=opset, dynamo=False, do_constant_folding=True)
            _add_metadata(tmp / GRAPHS[name], {k: metadata[k] for k in ("format", "family", "size", "config")})
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
        publish_folder(tmp, out, "fomm export")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def export_onnx(model: FOMM, out_dir: str | Path, *, size: int | None = None, opset: int = OPSET,
                overwrite: bool = False) -> Path:
    """Write the three graphs (four with an AVD network) and ``fomm-onnx.json`` to ``out_dir`` (created;
    replaced only with ``overwrite``; written to a temporary folder first, so a failed export leaves nothing).

    ``size``: the frame size the graphs run at (default: the model's training size). The weights are
    exported in float32 whatever the model's placement; the model itself is not changed.
    """
    if getattr(model, "family", "fomm") == "tpsmm":  # its own graphs: fomm.export.tpsmm
        from .tpsmm import export_tpsmm_onnx

        return export_tpsmm_onnx(model, out_dir, size=size, opset=opset, overwrite=overwrite)
    if getattr(model, "family", "fomm") == "mraa":  # its own graphs: fomm.export.mraa
        from .mraa import export_mraa_onnx

        return export_mraa_onnx(model, out_dir, size=size, opset=opset, overwrite=overwrite)
    out, size, copied = prepare_export(model, out_dir, size=size, opset=opset, overwrite=overwrite,
                                       check_size=validate_frame_size, needs="the dense motion")
    config = model.config
    jacobian = model.kp_detector.jacobian is not None
    kp_graph = _KeypointGraph(copied.kp_detector).eval()
    source_graph = _SourceGraph(copied.generator).eval()
    decode_graph = _DecodeGraph(copied.generator, jacobian).eval()
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, size, size, generator=generator)
    with torch.no_grad():
        kp = copied.kp_detector(images)
        features = copied.generator.encode_source(images[:1])
    decode_args = (features, images[:1], kp.value, kp.value[:1].flip(1))
    if jacobian:
        decode_args += (kp.jacobian, kp.jacobian[:1])
    num_kp = int(kp.value.shape[1])
    with_avd = copied.avd_network is not None
    written = [name for name in GRAPHS if name != "avd" or with_avd]
    metadata_config = copy.deepcopy(config)
    metadata_config.dataset_params.frame_shape = [size, size, int(config.model_params.common_params.num_channels)]
    metadata = {
        "format": "fomm-onnx", "format_version": 2 if with_avd else 1, "fomm_version": __version__,
        "opset": opset, "size": size, "align_corners": bool(model.align_corners), "num_kp": num_kp,
        "jacobian": jacobian, "source_features_shape": list(features.shape[1:]), "config": metadata_config.to_yaml(),
        "graphs": {name: {"file": GRAPHS[name], "inputs": input_names(name, jacobian),
                          "outputs": output_names(name, jacobian)} for name in written},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        _export(kp_graph, (images,), tmp / GRAPHS["keypoints"], "keypoints", jacobian, opset, ["image"])
        _export(source_graph, (images[:1],), tmp / GRAPHS["source"], "source", jacobian, opset, ["source"])
        dynamic = ["source_features", "source", "kp_driving", "kp_source"]
        dynamic += ["jacobian_driving", "jacobian_source"] if jacobian else []
        _export(decode_graph, decode_args, tmp / GRAPHS["decode"], "decode", jacobian, opset, dynamic)
        if with_avd:
            avd_args = (kp.value[:1], kp.value) + ((kp.jacobian[:1], kp.jacobian) if jacobian else ())
            _export(_AVDGraph(copied.avd_network).eval(), avd_args, tmp / GRAPHS["avd"], "avd", jacobian, opset,
                    input_names("avd", jacobian))
        embedded = {k: metadata[k] for k in ("format", "size", "align_corners", "num_kp", "jacobian", "config")}
        for name in written:
            _add_metadata(tmp / GRAPHS[name], embedded)
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
        publish_folder(tmp, out, "fomm export")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    logger.info("exported %s (size %d, opset %d) to %s", ", ".join(GRAPHS[n] for n in written), size, opset, out)
    return out
