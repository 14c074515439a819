"""Model names that every command accepts through ``resolve_model``, and what a command says about the
model it runs without ``--checkpoint``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

import fomm
from fomm.api import ModelSource, default_checkpoint_path, resolve_model
from fomm.checkpoints import CheckpointError
from fomm.cli import main
from tests.media import make_image, make_video


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_resolve_model(tmp_path):
    assert resolve_model("default") == ModelSource("default", default_checkpoint_path())
    assert resolve_model("default").bundled
    assert resolve_model("vox-256") == ModelSource("vox-256", None, preset="vox-256")
    ckpt = tmp_path / "mine.pth.tar"
    ckpt.write_bytes(b"")
    assert resolve_model(ckpt) == ModelSource(str(ckpt), ckpt) and not resolve_model(ckpt).bundled
    with pytest.raises(CheckpointError, match=r"checkpoint not found: nope .*default, .*vox-256"):
        resolve_model("nope")


def test_every_command_goes_through_resolve_model(tmp_path, capsys):
    """A name that is neither a file nor a model name gets resolve_model's refusal (which lists the
    names) from info, convert, animate, keypoints, reconstruct and train --checkpoint/--finetune."""
    image = make_image(tmp_path / "face.png", size=(48, 48))
    clip = make_video(tmp_path / "clip.mp4", n=2)
    commands = {
        "info": ["info", "nope"],
        "convert": ["convert", "nope", str(tmp_path / "out.safetensors")],
        "animate": ["animate", str(image), str(clip), "-o", str(tmp_path / "a.mp4"), "--checkpoint", "nope"],
        "keypoints": ["keypoints", str(image), "-o", str(tmp_path / "kp.csv"), "--checkpoint", "nope"],
        "reconstruct": ["reconstruct", "--checkpoint", "nope", "--data", str(tmp_path)],
        "train --checkpoint": ["train", "--checkpoint", "nope", "--out", str(tmp_path / "run")],
        "train --finetune": ["train", "--config", "vox-256", "--finetune", "nope", "--out", str(tmp_path / "run")],
    }
    for name, argv in commands.items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert f"fomm {argv[0]}: error: checkpoint not found: nope (give a checkpoint file" in err, name
    assert main(["train", "--config", "vox-256", "--finetune", "vox-256", "--out", str(tmp_path / "run")]) == 2
    assert "a preset has no weights to start from" in capsys.readouterr().err


@pytest.fixture(scope="module")
def face_photo(tmp_path_factory) -> Path:
    """A real photograph of a face (scikit-image's astronaut, shipped in its wheel), 128 px."""
    path = tmp_path_factory.mktemp("face") / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).resize((128, 128), Image.Resampling.LANCZOS).save(path)
    return path


def _stored_description() -> tuple[str, int]:
    config = fomm.read_checkpoint(default_checkpoint_path()).config
    return fomm.api.training_description(config), config.frame_size


@pytest.mark.slow
def test_animate_without_checkpoint_says_which_model_and_warns_about_faces(face_photo, tmp_path, capsys):
    description, size = _stored_description()
    clip = make_video(tmp_path / "clip.mp4", n=2, size=(64, 48))
    assert main(["animate", str(face_photo), str(clip), "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    lines = _lines(captured.err)
    assert lines[0] == (f"fomm animate: using the bundled default model (trained on {description}, {size}x{size}, "
                        f"{fomm.load_model('default', device='cpu').config.model_params.common_params.num_kp} "
                        "keypoints); pass --checkpoint with a published checkpoint for real footage "
                        "(vox-cpk.pth.tar for faces, taichi-cpk.pth.tar for full bodies)")
    assert lines[1].startswith("fomm animate: note: the source looks like a photograph of a face")
    assert "--checkpoint vox-cpk.pth.tar" in lines[1] and description in lines[1]
    assert captured.out.startswith("2 frames in ")  # and then it works

    figure = make_image(tmp_path / "figure.png", size=(64, 64))  # no face: only the first line
    assert main(["animate", str(figure), str(clip), "-o", str(tmp_path / "out2")]) == 0
    assert [line for line in _lines(capsys.readouterr().err) if line.startswith("fomm animate:")] == lines[:1]


@pytest.mark.slow
def test_keypoints_and_reconstruct_without_checkpoint_say_which_model(face_photo, tmp_path, capsys, checkpoint):
    description, _ = _stored_description()
    assert main(["keypoints", str(face_photo), "-o", str(tmp_path / "kp.csv")]) == 0
    lines = _lines(capsys.readouterr().err)
    assert lines[0].startswith("fomm keypoints: using the bundled default model (trained on " + description)
    assert lines[1].startswith("fomm keypoints: note: the source looks like a photograph of a face")
    assert main(["keypoints", str(face_photo), "-o", str(tmp_path / "kp2.csv"), "--checkpoint", str(checkpoint)]) == 0
    assert "bundled" not in capsys.readouterr().err  # a chosen checkpoint: nothing to say

    data = tmp_path / "data"
    for split in ("train", "test"):
        folder = data / split / "v0"
        folder.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((64, 64, 3), 40 + 80 * i, np.uint8)).save(folder / f"{i}.png")
    assert main(["reconstruct", "--data", str(data), "--device", "cpu"]) == 0
    assert _lines(capsys.readouterr().err)[0].startswith("fomm reconstruct: using the bundled default model")
