"""Fuzz: random truncations and bit flips of every kind of input (a checkpoint, a source image, a driving
video, a config, an export folder), fed to ``fomm animate`` (issue 29).

Whatever the damage, the command either refuses in one line on stderr with exit 2 and writes nothing,
or (a flip the format cannot notice: a pixel of a video, a weight in a legacy checkpoint) animates and
exits 0. It never shows a traceback, never exits otherwise and never leaves a half-written output. A
truncation is refused, except a driving video's (its frames that decode are animated, with one
warning line, as documented for fomm animate) and a config's that still parses (YAML has no end: the
keys cut off take their defaults). The cases are drawn from a fixed seed, so a failure
names a case that fails again.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from fomm.cli import main
from tests.animation.helpers import tiny_config
from tests.media import make_image, make_video

SEED = 29
CASES_PER_KIND = 6  # 3 truncations and 3 bit-flip sets per input kind
HEADER = 4096  # half of the flips land in a file's first bytes, where its structure is


@pytest.fixture(scope="module")
def inputs(golden, checkpoint, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("valid")
    config = folder / "tiny.yaml"
    config.write_text(tiny_config(golden).to_yaml())
    export = folder / "export"
    assert main(["export", str(checkpoint), "--format", "onnx", "-o", str(export)]) == 0
    return {"checkpoint": checkpoint, "image": make_image(folder / "source.png", size=(64, 64)),
            "video": make_video(folder / "driving.mp4", n=3, size=(64, 64)), "config": config, "export": export}


def _truncated(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def _flipped(data: bytes, rng: np.random.Generator) -> bytes:
    damaged = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        end = min(HEADER, len(data)) if rng.random() < 0.5 else len(data)
        damaged[int(rng.integers(0, end))] ^= 1 << int(rng.integers(0, 8))
    return bytes(damaged)


def _cases() -> list[tuple[str, str, int]]:
    return [(kind, damage, i) for kind in ("checkpoint", "image", "video", "config", "export")
            for damage in ("truncate", "flip") for i in range(CASES_PER_KIND // 2)]


def _damage(inputs: dict[str, Path], kind: str, damage: str, i: int, folder: Path) -> Path:
    """A damaged copy of the input of ``kind``; for an export, of one of its files, chosen at random."""
    rng = np.random.default_rng([SEED, ("checkpoint", "image", "video", "config", "export").index(kind),
                                 damage == "flip", i])
    valid = inputs[kind]
    folder.mkdir()
    copy = folder / valid.name
    if valid.is_dir():
        shutil.copytree(valid, copy)
        files = sorted(p for p in copy.iterdir() if not p.name.startswith("."))
        target = files[int(rng.integers(0, len(files)))]
    else:
        shutil.copy(valid, copy)
        target = copy
    data = target.read_bytes()
    target.write_bytes(_truncated(data, rng) if damage == "truncate" else _flipped(data, rng))
    return copy


def _argv(inputs: dict[str, Path], kind: str, damaged: Path, out: Path) -> list[str]:
    given = {**inputs, kind: damaged}
    argv = ["animate", str(given["image"]), str(given["video"]), "-o", str(out)]
    if kind == "export":
        return [*argv, "--backend", "onnxruntime", "--model", str(given["export"])]
    return [*argv, "--checkpoint", str(given["checkpoint"]), "--config", str(given["config"])]


@pytest.mark.parametrize(("kind", "damage", "i"), _cases(), ids=lambda v: str(v))
def test_damaged_input_is_one_line_or_a_video(inputs, kind, damage, i, tmp_path, capsys):
    damaged = _damage(inputs, kind, damage, i, tmp_path / "in")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = main(_argv(inputs, kind, damaged, out_dir / "out.mp4"))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "frame/s]" not in line and " -> " not in line]
    assert "Traceback" not in err, err
    warned = [line for line in lines if line.startswith("fomm animate: warning: ") and "is truncated" in line]
    if code == 0 and (damage == "flip" or kind in ("video", "config")):  # a video all the same
        assert [p.name for p in out_dir.iterdir()] == ["out.mp4"], err
        assert lines == warned and (len(warned) == 1 or damage == "flip" or kind == "config"), err
        return
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("fomm animate: error: "), err
    assert list(out_dir.iterdir()) == []


def _refused_in_one_line(argv: list[str], capsys, *words: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and all(word in err for word in words), err
    return err


def test_a_flip_in_a_checkpoints_pickle_fails_its_zip_checksum(inputs, tmp_path, capsys):
    """torch.load does not check the CRC-32 its zip format stores: the flip would build other networks."""
    import zipfile

    with zipfile.ZipFile(inputs["checkpoint"]) as archive:
        entry = next(e for e in archive.infolist() if e.filename.endswith("data.pkl"))
    data = bytearray(inputs["checkpoint"].read_bytes())
    name_length, extra_length = struct.unpack_from("<HH", data, entry.header_offset + 26)  # the local header
    start = entry.header_offset + 30 + name_length + extra_length
    data[start + entry.file_size // 2] ^= 0x04
    damaged = tmp_path / "flipped.pth"
    damaged.write_bytes(bytes(data))
    _refused_in_one_line(["info", str(damaged)], capsys, "flipped.pth", "CRC", "download or copy it again")


def test_a_png_without_its_end_is_refused(inputs, tmp_path, capsys):
    damaged = tmp_path / "cut.png"
    damaged.write_bytes(inputs["image"].read_bytes()[:-3])  # the pixels are all there; the end chunk is not
    _refused_in_one_line(_argv(inputs, "image", damaged, tmp_path / "out.mp4"), capsys, "cut.png", "truncated")
    appended = tmp_path / "appended.png"  # bytes after the end chunk are allowed
    appended.write_bytes(inputs["image"].read_bytes() + b"trailing bytes")
    assert main(_argv(inputs, "image", appended, tmp_path / "out.mp4")) == 0


@pytest.mark.parametrize(("text", "words"), [
    (b"model_params:\n  common_params: {num_kp: 10\n", ("not valid YAML", "line 3", "column 1")),
    (b"model_params: \xff\xfe\n", ("not a text file", "byte 14")),
])
def test_a_damaged_config_is_one_line(inputs, tmp_path, capsys, text, words):
    config = tmp_path / "bad.yaml"
    config.write_bytes(text)
    _refused_in_one_line(_argv(inputs, "config", config, tmp_path / "out.mp4"), capsys, "bad.yaml", *words)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("size", [1, 4096])
def test_a_file_of_zeros_is_a_damaged_checkpoint_not_advice_to_run_code(tmp_path, capsys, size):
    zeros = tmp_path / "zeros.pth"
    zeros.write_bytes(bytes(size))  # what head -c N /dev/zero gives
    err = _refused_in_one_line(["info", str(zeros)], capsys, "zeros.pth", "truncated or not a PyTorch checkpoint")
    assert "weights_only" not in err
