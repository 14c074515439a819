"""Every command follows the overwrite rules: a folder fomm did not make is never replaced, an input is
never deleted or written to (whatever the flags), and the refusal is one line naming what is in the way."""

from __future__ import annotations

import pytest
import yaml

import fomm.cli.common as cli_common
from fomm.cli import main
from tests.media import make_frame_folder, make_image, make_video
from tests.training.helpers import tiny_config_dict


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    return {"source": make_image(folder / "source.png", size=(64, 48)),
            "driving": make_video(folder / "driving.mp4", n=4, size=(64, 48)),
            "frames": make_frame_folder(folder / "frames", n=3, size=(64, 48))}


@pytest.fixture
def no_model(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(cli_common, "load_model", refuse)


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def _user_folder(path):
    path.mkdir()
    for name in ("a.txt", "b.jpg", "notes.md"):
        (path / name).write_bytes(name.encode())
    return path


def _refused(capsys, command, argv, *says):
    assert main([command, *map(str, argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fomm {command}: error: ") and len(err.strip().splitlines()) == 1, err
    for text in says:
        assert text in err, err


def test_animate_never_replaces_a_user_folder(media, tmp_path, capsys, no_model):
    videos = _user_folder(tmp_path / "Videos")
    before = _snapshot(tmp_path)
    _refused(capsys, "animate", [media["source"], media["driving"], "-o", videos, "--overwrite"],
             "Videos holds 3 entries fomm did not write (a.txt, b.jpg, notes.md)", "choose another output")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("which", ["driving video", "driving folder", "source"])
def test_animate_never_writes_an_input(media, tmp_path, capsys, no_model, which):
    before = _snapshot(media["source"].parent)
    driving = media["frames"] if which == "driving folder" else media["driving"]
    output = {"driving video": media["driving"], "driving folder": media["frames"],
              "source": media["source"].with_suffix("")}[which]
    if which == "source":  # a PNG folder named like the source's folder would hold it
        output = media["source"].parent
    _refused(capsys, "animate", [media["source"], driving, "-o", output, "--overwrite"], "input")
    assert _snapshot(media["source"].parent) == before


def test_keypoints_overlay_never_replaces_the_input_or_a_user_folder(media, tmp_path, capsys, no_model):
    image = make_image(tmp_path / "face.png", size=(64, 48))
    overlay_dir = _user_folder(tmp_path / "overlay")
    before = _snapshot(tmp_path)
    _refused(capsys, "keypoints", [image, "--overlay", image, "--overwrite"], "also an input")
    _refused(capsys, "keypoints", [media["driving"], "--overlay", overlay_dir, "--overwrite"], "fomm did not write")
    assert _snapshot(tmp_path) == before


def test_synth_never_replaces_a_user_folder(tmp_path, capsys):
    data = _user_folder(tmp_path / "data")
    before = _snapshot(tmp_path)
    _refused(capsys, "synth", [data, "--videos", "1", "--frames", "2", "--overwrite"], "fomm did not write")
    assert _snapshot(tmp_path) == before


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict()))
    return path


def test_train_overwrite_never_deletes_the_finetune_checkpoint(config_file, tmp_path, capsys):
    """`fomm train --finetune RUN/x.pth.tar --out RUN --overwrite` deleted the checkpoint it was to read."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.txt").write_text("a previous run\n")
    (run / "00000009-checkpoint.pth.tar").write_bytes(b"weights to fine-tune from")
    before = _snapshot(tmp_path)
    _refused(capsys, "train", ["--config", config_file, "--data", tmp_path / "nodata", "--finetune",
                               run / "00000009-checkpoint.pth.tar", "--out", run, "--overwrite"],
             "holds the input", "00000009-checkpoint.pth.tar")
    assert _snapshot(tmp_path) == before


def test_train_overwrite_never_clears_a_user_folder(config_file, tmp_path, capsys):
    out = _user_folder(tmp_path / "out")
    (out / "log.txt").write_text("my own log\n")
    before = _snapshot(tmp_path)
    _refused(capsys, "train", ["--config", config_file, "--data", tmp_path / "nodata", "--out", out, "--overwrite"],
             "fomm did not write (a.txt, b.jpg, notes.md)")
    assert _snapshot(tmp_path) == before


def test_convert_never_writes_its_input(checkpoint, capsys):
    before = checkpoint.read_bytes()
    _refused(capsys, "convert", [checkpoint, checkpoint, "--overwrite"], "also an input")
    assert checkpoint.read_bytes() == before
