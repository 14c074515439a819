"""Hostile and careless inputs to every command (issue 29): each is refused with one line naming the
problem and the fix, exit 2, no traceback, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import fomm
from fomm.checkpoints import save_checkpoint
from fomm.cli import main
from tests.media import make_image, make_video


def _refused(capsys, argv: list[str], *words: str) -> str:
    """Run ``fomm argv``: exit 2 and one stderr line holding every word; returns that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "using the bundled" not in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    return make_image(folder / "source.png"), make_video(folder / "driving.mp4", n=3)


@pytest.fixture(scope="module")
def bad_checkpoints(golden, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")
    with torch.no_grad():
        model.generator.final.weight.fill_(float("nan"))
    paths = {"nan": save_checkpoint(folder / "nan.pth.tar", model.networks(), model.config)}
    paths["empty"] = folder / "empty.pth.tar"
    paths["empty"].write_bytes(b"")
    return paths


def _commands(ckpt: Path, media, out: Path) -> dict[str, list[str]]:
    source, driving = media
    return {
        "animate": ["animate", str(source), str(driving), "-o", str(out / "out.mp4"), "--checkpoint", str(ckpt)],
        "keypoints": ["keypoints", str(driving), "-o", str(out / "kp.csv"), "--checkpoint", str(ckpt)],
        "info": ["info", str(ckpt)],
        "convert": ["convert", str(ckpt), str(out / "model.safetensors")],
    }


@pytest.mark.parametrize("command", ["animate", "keypoints", "info", "convert"])
@pytest.mark.parametrize(("kind", "words"), [("empty", ("empty", "truncated")), ("nan", ("non-finite",))])
def test_damaged_checkpoint_in_every_command(tmp_path, capsys, media, bad_checkpoints, command, kind, words):
    """A 0-byte file (an IndexError before) and NaN weights (an all-black video with exit 0 before)."""
    argv = _commands(bad_checkpoints[kind], media, tmp_path)[command]
    _refused(capsys, argv, *words)
    assert not list(tmp_path.iterdir())
