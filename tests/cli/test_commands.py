"""``fomm --version``, ``info``, ``convert`` and ``synth`` from the command line; model names that every
command accepts through ``resolve_model``; what a command says about the model it runs without
``--checkpoint``."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors import safe_open
from skimage import data as skimage_data

import fomm
from fomm.api import ModelSource, default_checkpoint_path, resolve_model
from fomm.checkpoints import CheckpointError
from fomm.cli import main
from fomm.cli.common import CLIError, device_from_arg
from tests.media import make_image, make_video


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------------------- the installed entry point
def test_installed_entry_point_version():
    """The ``fomm`` script pip installed (not ``python -m``)."""
    script = Path(sys.executable).parent / "fomm"
    script = str(script) if script.exists() else shutil.which("fomm")
    assert script, "the fomm entry point is not installed (pip install -e .)"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and done.stdout.strip() == f"fomm {fomm.__version__}"
    assert fomm.__version__.count(".") == 2
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0


# ----------------------------------------------------------------------------- one resolver for model names
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


# ----------------------------------------------------------------------------- info
def test_info_of_a_checkpoint(golden, capsys):
    path = golden / "tiny-cpk.pth.tar"
    raw = torch.load(path, weights_only=True)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    for name in ("generator", "kp_detector", "discriminator"):
        assert f"{name}: {len(raw[name])} tensors," in out
    assert f"epoch: {raw['epoch']}" in out
    assert "config: inferred from tensor shapes" in out
    assert "256x256 assumed" in out  # a bare original checkpoint does not say its frame size
    num_kp = raw["kp_detector"]["kp.weight"].shape[0]
    assert f"keypoints: {num_kp}," in out


def test_info_default_and_presets(capsys):
    stored = yaml.safe_load(safe_open(str(default_checkpoint_path()), "pt").metadata()["config"])
    size, num_kp = stored["dataset_params"]["frame_shape"][0], stored["model_params"]["common_params"]["num_kp"]
    assert main(["info", "default", "--yaml"]) == 0
    out = capsys.readouterr().out
    assert _lines(out)[0].startswith("model: the bundled default model (")
    assert f"file: {default_checkpoint_path()}" in out
    assert f"{size}x{size}, {num_kp} keypoints)" in _lines(out)[0]
    assert "trained on synthetic articulated figures" in _lines(out)[0]
    assert "config: stored in the checkpoint" in out
    assert yaml.safe_load(out[out.index("dataset_params:"):])["model_params"] == stored["model_params"]
    assert main(["info", "taichi-256"]) == 0
    out = capsys.readouterr().out
    assert _lines(out)[0] == "model: the taichi-256 architecture with untrained weights (256x256, 10 keypoints)"
    assert "weights: none" in out
    assert main(["info", "nope"]) == 2
    err = capsys.readouterr().err
    assert len(_lines(err)) == 1 and err.startswith("fomm info: error: checkpoint not found: nope")


# ----------------------------------------------------------------------------- convert
def test_convert_both_ways(golden, tmp_path, capsys):
    original = torch.load(golden / "tiny-cpk.pth.tar", weights_only=True)
    out = tmp_path / "tiny.safetensors"
    assert main(["convert", str(golden / "tiny-cpk.pth.tar"), str(out), "--config", str(golden / "tiny.yaml")]) == 0
    assert capsys.readouterr().out.strip().startswith(f"wrote {out} (generator, kp_detector, discriminator")
    with safe_open(str(out), "pt") as f:
        for name in ("generator", "kp_detector", "discriminator"):
            for key, value in original[name].items():
                torch.testing.assert_close(f.get_tensor(f"{name}.{key}"), value, rtol=0, atol=0)
        assert yaml.safe_load(f.metadata()["config"]) == yaml.safe_load(fomm.load_config(golden / "tiny.yaml")
                                                                         .to_yaml())
    back = tmp_path / "back.pth.tar"
    assert main(["convert", str(out), str(back), "--inference-only"]) == 0
    capsys.readouterr()
    again = torch.load(back, weights_only=True)
    assert "discriminator" not in again and again["generator"].keys() == original["generator"].keys()
    for key, value in original["kp_detector"].items():
        torch.testing.assert_close(again["kp_detector"][key], value, rtol=0, atol=0)

    digest = hashlib.sha256(back.read_bytes()).hexdigest()
    assert main(["convert", str(out), str(back)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest  # not replaced
    assert main(["convert", "default", str(tmp_path / "default.pth.tar")]) == 0


# ----------------------------------------------------------------------------- synth
def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth(tmp_path, capsys):
    argv = ["--videos", "5", "--frames", "3", "--size", "32", "--seed", "7", "--test-fraction", "0.4"]
    assert main(["synth", str(tmp_path / "a"), *argv]) == 0
    assert capsys.readouterr().out.startswith("3 train + 2 test videos, 15 frames in ")
    for split, count in (("train", 3), ("test", 2)):
        videos = sorted(p for p in (tmp_path / "a" / split).iterdir() if p.is_dir())
        assert len(videos) == count
        for video in videos:
            frames = sorted(video.glob("*.png"))
            assert len(frames) == 3 and np.asarray(Image.open(frames[0])).shape == (32, 32, 3)
            assert (video.parent / f"{video.name}.tracks.json").exists()
    assert main(["synth", str(tmp_path / "b"), *argv]) == 0
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")  # deterministic from the seed
    assert main(["synth", str(tmp_path / "c"), *argv[:-4], "--seed", "8", "--test-fraction", "0.4"]) == 0
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")
    capsys.readouterr()
    assert main(["synth", str(tmp_path / "a"), *argv]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the default model's notice
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


def test_a_cuda_device_past_the_last_one_is_refused_before_any_work(monkeypatch):
    """`--device cuda:1` on a one-GPU machine: one line naming the devices there, not a CUDA error later."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert fomm.api.select_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(CLIError, match=r"--device cuda:1: cuda:1 was requested but this machine has 1 CUDA device"):
        device_from_arg("cuda:1")
