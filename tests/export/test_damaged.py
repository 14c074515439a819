"""A damaged export folder (a manifest that is not JSON or not ours, a graph that is garbage, truncated
or swapped with another, a format_version newer than this fomm) is refused before any frame is made: one
line naming the file and the fix, exit 2, nothing written; the library raises ExportError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fomm.cli import main
from fomm.export import ExportError, OnnxBackend, load_onnx_backend
from tests.media import make_frame_folder, make_image

SIZE = 128


@pytest.fixture(scope="module")
def exported(golden, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny-onnx"
    assert main(["export", str(golden / "tiny-cpk.pth.tar"), "--format", "onnx", "-o", str(out),
                 "--size", str(SIZE)]) == 0
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    return make_image(folder / "s.png", size=(64, 64)), make_frame_folder(folder / "d", n=2, size=(64, 64))


def _edit_manifest(folder: Path, change) -> None:
    path = folder / "fomm-onnx.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _swap(folder: Path, a: str, b: str) -> None:
    (folder / a).rename(folder / "tmp")
    (folder / b).rename(folder / a)
    (folder / "tmp").rename(folder / b)


DAMAGES = {
    "manifest not JSON": (lambda f: (f / "fomm-onnx.json").write_text("{bad"), "fomm-onnx.json: not valid JSON"),
    "manifest a list": (lambda f: (f / "fomm-onnx.json").write_text("[1, 2]"), "not a fomm ONNX export"),
    "manifest binary": (lambda f: (f / "fomm-onnx.json").write_bytes(b"\xff\xfe\x00garbage"), "not valid JSON"),
    "newer format_version": (lambda f: _edit_manifest(f, lambda m: m.update(format_version=99)),
                             "format_version 99 is newer"),
    "format_version text": (lambda f: _edit_manifest(f, lambda m: m.update(format_version="1")), "format_version"),
    "unknown family": (lambda f: _edit_manifest(f, lambda m: m.update(family="fomm9")), "family 'fomm9'"),
    "family of another config": (lambda f: _edit_manifest(f, lambda m: m.update(family="tpsmm")), "config"),
    "no graphs": (lambda f: _edit_manifest(f, lambda m: m.pop("graphs")), "'graphs'"),
    "a graph missing": (lambda f: _edit_manifest(f, lambda m: m["graphs"].pop("decode")), "decode"),
    "size text": (lambda f: _edit_manifest(f, lambda m: m.update(size="x")), "'size'"),
    "config not YAML": (lambda f: _edit_manifest(f, lambda m: m.update(config="{{{")), "config"),
    "file outside the folder": (lambda f: _edit_manifest(f, lambda m: m["graphs"]["decode"].update(
        file="../../etc/passwd")), "a file name in the export folder"),
    "garbage graph": (lambda f: (f / "decode.onnx").write_bytes(b"\x07garbage" * 100), "decode.onnx: not a valid"),
    "truncated graph": (lambda f: (f / "decode.onnx").write_bytes((f / "decode.onnx").read_bytes()[:10000]),
                        "decode.onnx: not a valid"),
    "empty graph": (lambda f: (f / "source.onnx").write_bytes(b""), "source.onnx: not a valid"),
    "graph deleted": (lambda f: (f / "keypoints.onnx").unlink(), "keypoints.onnx is missing"),
    "graph a folder": (lambda f: ((f / "keypoints.onnx").unlink(), (f / "keypoints.onnx").mkdir()),
                       "keypoints.onnx is missing"),
    "graphs swapped": (lambda f: _swap(f, "keypoints.onnx", "decode.onnx"), "is not the"),
}


def _damaged(exported: Path, tmp_path: Path, damage) -> Path:
    folder = tmp_path / "bad"
    shutil.copytree(exported, folder)
    damage(folder)
    return folder


@pytest.mark.parametrize("name", DAMAGES)
def test_animate_refuses_a_damaged_export_in_one_line(name, exported, inputs, tmp_path, capsys):
    damage, expected = DAMAGES[name]
    folder = _damaged(exported, tmp_path, damage)
    out = tmp_path / "out"
    assert main(["animate", str(inputs[0]), str(inputs[1]), "-o", str(out), "--backend", "onnxruntime",
                 "--model", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expected in err, err
    assert "fomm export" in err or "upgrade fomm" in err, err  # the fix
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


def test_the_library_raises_export_error(exported, tmp_path):
    folder = _damaged(exported, tmp_path, DAMAGES["graphs swapped"][0])
    with pytest.raises(ExportError, match="renamed or swapped"):
        OnnxBackend(folder)
    with pytest.raises(ExportError, match="renamed or swapped"):
        load_onnx_backend(folder)


def test_a_graph_of_another_size_is_refused(golden, exported, tmp_path):
    """Graphs swapped between two exports of the same model at different sizes load, but cannot run."""
    other = tmp_path / "other"
    assert main(["export", str(golden / "tiny-cpk.pth.tar"), "--format", "onnx", "-o", str(other),
                 "--size", "256"]) == 0
    folder = _damaged(exported, tmp_path, lambda f: shutil.copy(other / "keypoints.onnx", f / "keypoints.onnx"))
    with pytest.raises(ExportError, match=r"keypoints.onnx .*256.*128"):
        OnnxBackend(folder)


def test_an_intact_export_still_loads(exported):
    assert OnnxBackend(exported).size == SIZE
