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


@pytest.mark.parametrize("name", ["2024-01-01T12:30:00.mp4", "a:b.mp4"])
def test_colon_names_as_driving_and_output(tmp_path, monkeypatch, capsys, media, checkpoint, name):
    source, driving = media
    monkeypatch.chdir(tmp_path)
    Path(name).write_bytes(driving.read_bytes())
    out = "out" + name
    assert main(["animate", str(source), name, "-o", out, "--checkpoint", str(checkpoint)]) == 0
    assert Path(out).stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, out])


@pytest.mark.parametrize(("output", "words"), [
    ("-", ("standard output",)), (".mp4", ("only an extension",)), ("out.mp4.", ("ends with a dot", "out.mp4?")),
    ("x" * 300 + ".mp4", ("too long", "shorter name")),
])
def test_output_names_that_are_no_file_name(tmp_path, monkeypatch, capsys, media, checkpoint, output, words):
    source, driving = media
    monkeypatch.chdir(tmp_path)
    line = _refused(capsys, ["animate", str(source), str(driving), "-o", output, "--checkpoint", str(checkpoint)],
                    *words)
    assert len(line) < 400
    assert not list(tmp_path.iterdir())


def test_convert_refuses_an_output_that_is_no_checkpoint_format(tmp_path, capsys, checkpoint):
    _refused(capsys, ["convert", str(checkpoint), str(tmp_path / "out.txt")], "out.txt", ".safetensors", ".pth")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_synth_refuses_a_limb_swing_that_is_no_number(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exited:
        main(["synth", str(tmp_path / "data"), "--videos", "1", "--limb-swing", value])
    assert exited.value.code == 2
    assert f"--limb-swing: expected a number >= 0, got '{value}'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
