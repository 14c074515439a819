"""Opening an export folder: its manifest (``fomm-onnx.json``) checked before any graph is read, then
each graph checked against it.

An export is a folder a user copies, renames and edits, so every backend reads it through here: a
manifest that is not JSON or not ours, a ``format_version`` newer than this fomm, a graph file that is
garbage, truncated, missing or swapped with another one (of this export or of another export's size)
is refused with an :class:`ExportError` naming the file and the fix, never a traceback of json,
yaml or onnxruntime.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import yaml

from .onnx import GRAPHS, METADATA, ExportError

logger = logging.getLogger(__name__)

AGAIN = "export the model again: fomm export CKPT --format onnx -o DIR --overwrite"
FAMILY_MODULES = {"fomm": ".onnx", "tpsmm": ".tpsmm", "mraa": ".mraa"}  # each has its FORMAT_VERSION
REQUIRED_GRAPHS = ("keypoints", "source", "decode")
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few KiB; a larger file is not one


def _damaged(path: Path, problem: str) -> ExportError:
    return ExportError(f"{path}: {problem}; the export is damaged: {AGAIN}")


def _family_format(family: str):
    return importlib.import_module(FAMILY_MODULES[family], __package__)


def read_manifest(folder: str | Path) -> dict:
    """The manifest of the export in ``folder``, checked: ours, of a family and a format version this
    fomm reads, with a size, a config and the graphs its family needs, each a file of the folder."""
    folder = Path(folder)
    path = folder / METADATA
    if not path.is_file():
        raise ExportError(f"{folder} is not an exported fomm model (no {METADATA}); make one with "
                          "fomm export CKPT --format onnx -o DIR")
    data = path.read_bytes()[:MAX_MANIFEST_BYTES + 1]
    if len(data) > MAX_MANIFEST_BYTES:
        raise _damaged(path, f"over {MAX_MANIFEST_BYTES >> 20} MiB, not a manifest")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "fomm-onnx":
        raise _damaged(path, "not a fomm ONNX export manifest")
    family = manifest.setdefault("family", "fomm")
    if family not in FAMILY_MODULES:
        raise ExportError(f"{path}: family {family!r} is not one this fomm runs ({', '.join(FAMILY_MODULES)}); "
                          f"upgrade fomm (pip install -U fomm) or {AGAIN}")
    _check_version(path, manifest, _family_format(family).FORMAT_VERSION)
    for key, kind in (("size", int), ("config", str), ("graphs", dict)):
        value = manifest.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (key == "size" and value < 1):
            raise _damaged(path, f"{key!r} is missing or not a {'positive integer' if kind is int else kind.__name__}")
    _check_graphs(path, manifest["graphs"], GRAPHS)
    return manifest


def _check_version(path: Path, manifest: dict, supported: int) -> None:
    version = manifest.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _damaged(path, f"format_version {version!r} is not a version number")
    if version > supported:
        raise ExportError(f"{path}: format_version {version} is newer than this fomm reads (up to {supported}); "
                          f"upgrade fomm (pip install -U fomm) or {AGAIN}")


def _check_graphs(path: Path, graphs: dict, known: dict) -> None:
    missing = [name for name in REQUIRED_GRAPHS if name not in graphs]
    unknown = [name for name in graphs if name not in known]
    if missing or unknown:
        what = f"no {', '.join(missing)} graph" if missing else f"unknown graphs {', '.join(map(str, unknown))}"
        raise _damaged(path, what)
    for name, info in graphs.items():
        file = info.get("file") if isinstance(info, dict) else None
        if not isinstance(file, str) or not file or Path(file).name != file or file in (".", ".."):
            raise _damaged(path, f"the {name} graph's 'file' is not a file name in the export folder")
        for key in ("inputs", "outputs"):
            names = info.get(key)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise _damaged(path, f"the {name} graph's {key!r} is not a list of tensor names")


def manifest_config(folder: str | Path, manifest: dict, parse: Callable[[dict], object]):
    """The config stored in the manifest, parsed by the family's ``parse``; a damaged one is refused."""
    path = Path(folder) / METADATA
    try:
        data = yaml.safe_load(manifest["config"])
    except yaml.YAMLError as exc:
        raise _damaged(path, f"its config is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise _damaged(path, "its config is not a mapping")
    from ..errors import FommError

    try:
        return parse(data)
    except FommError as exc:
        raise _damaged(path, f"its config is invalid for the {manifest.get('family', 'fomm')} family ({exc})") from None


def _is_onnxruntime_error(exc: BaseException) -> bool:
    """onnxruntime's own exceptions, and the UnicodeDecodeError its Python side raises on a graph whose
    names are not UTF-8 (a damaged file)."""
    return type(exc).__module__.startswith("onnxruntime") or isinstance(exc, UnicodeDecodeError)


def open_sessions(folder: str | Path, manifest: dict, make_session: Callable[[Path], object]) -> dict:
    """One onnxruntime session per graph of a checked manifest (``make_session(path)`` makes it), each
    checked to be the graph the manifest names: its tensor names, and its frame size where fixed."""
    folder = Path(folder)
    sessions = {}
    for name, info in manifest["graphs"].items():
        path = folder / info["file"]
        if not path.is_file():
            raise ExportError(f"{path} is missing; {AGAIN}")
        try:
            session = make_session(path)
        except Exception as exc:
            if not _is_onnxruntime_error(exc):
                raise
            raise _damaged(path, f"not a valid ONNX graph ({_first_line(exc)})") from None
        _check_session(path, name, info, session, manifest["size"])
        sessions[name] = session
    return sessions


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def _check_session(path: Path, name: str, info: dict, session, size: int) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    got = ([i.name for i in inputs], [o.name for o in outputs])
    if got != (info["inputs"], info["outputs"]):
        raise ExportError(f"{path} is not the {name} graph of this export (inputs {', '.join(got[0])}; expected "
                          f"{', '.join(info['inputs'])}): its files were renamed or swapped; {AGAIN}")
    for tensor in inputs:
        shape = tensor.shape
        if tensor.name in ("image", "source") and len(shape) == 4 and all(isinstance(s, int) for s in shape[2:]):
            if tuple(shape[2:]) != (size, size):
                raise ExportError(f"{path} runs at {shape[2]} px, but this export's manifest says {size} px: the "
                                  f"file comes from another export; {AGAIN}")


def run_graph(folder: Path, sessions: dict, graph: str, inputs: dict) -> list:
    """``sessions[graph].run`` on ``inputs``; a graph that loads but cannot run (damaged inside) is an
    ExportError naming it."""
    try:
        return sessions[graph].run(None, inputs)
    except Exception as exc:
        if not _is_onnxruntime_error(exc):
            raise
        raise ExportError(f"the {graph} graph of {folder} failed to run ({_first_line(exc)}); the export may be "
                          f"damaged: {AGAIN}") from None
