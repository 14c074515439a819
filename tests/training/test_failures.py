"""Training when something goes wrong (issue 29): exact resume with a random VGG-19, data checked before the
first step, an --out the corrected rerun accepts, a checkpoint of the last good step after a crash, a
non-finite loss stopping the run, and no training from a NaN checkpoint."""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml
from PIL import Image

from fomm.checkpoints import read_checkpoint
from fomm.cli.main import main
from fomm.config import parse_config
from fomm.training.checkpointing import latest_checkpoint
from fomm.training.errors import TrainingError
from fomm.training.state import STATE_KEY
from fomm.training.trainer import Trainer

from .helpers import RandomPairs, tiny_config_dict

COMMON = ["--workers", "0", "--device", "cpu", "--threads", "1"]


def _config_file(tmp_path, **loss_weights):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(**loss_weights)))
    return path


def _weights(out):
    return read_checkpoint(latest_checkpoint(out)).state_dicts


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        for key, value in a[name].items():
            assert torch.equal(value, b[name][key]), (name, key)


def test_resume_with_a_random_vgg_is_exact(dataset_dir, tmp_path, hub_dir):
    """The perceptual loss on, with --vgg-random: 4 steps in one go == 2 + resume + 2, bit for bit."""
    config = _config_file(tmp_path)  # perceptual weights [10, 10, 0, 0, 0]
    start = ["train", "--config", str(config), "--data", str(dataset_dir), "--vgg-random", *COMMON]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main([*start, "--out", str(straight), "--max-steps", "4"]) == 0
    torch.manual_seed(1234)  # the process's RNG elsewhere: the perceptual network must not depend on it
    assert main([*start, "--out", str(stopped), "--max-steps", "2"]) == 0
    torch.rand(7)
    assert main(["train", "--checkpoint", str(stopped), "--out", str(stopped), "--vgg-random", *COMMON,
                 "--max-steps", "2"]) == 0
    _assert_same_weights(_weights(straight), _weights(stopped))
    state = read_checkpoint(latest_checkpoint(stopped)).extra[STATE_KEY]
    assert (state["global_step"], state["vgg"]) == (4, "random (seed 19)")  # the network the run compared with


def test_one_wrong_sized_frame_is_found_before_training(dataset_dir, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(dataset_dir, data)
    frame = sorted((data / "train" / "train02").iterdir())[3]
    Image.open(frame).resize((40, 32)).save(frame)
    out = tmp_path / "run"
    config = _config_file(tmp_path, perceptual=[0] * 5, reconstruction_l1=1)
    assert main(["train", "--config", str(config), "--data", str(data), "--out", str(out), *COMMON]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and frame.name in err and "32x40" in err and "Traceback" not in err
    assert not out.exists()  # nothing written before the data is right


def test_a_run_that_failed_before_its_first_step_leaves_an_out_the_rerun_takes(dataset_dir, tmp_path, capsys):
    out = tmp_path / "run"
    config = _config_file(tmp_path, perceptual=[0] * 5, reconstruction_l1=1)
    base = ["train", "--config", str(config), "--data", str(dataset_dir), "--out", str(out), *COMMON,
            "--max-steps", "1"]
    assert main([*base, "--batch-size", "64"]) == 2  # more than an epoch holds: refused after --out was made
    assert "fewer than train_params.batch_size" in capsys.readouterr().err
    assert main(base) == 0  # the corrected rerun, no --overwrite needed: there was nothing to resume
    assert latest_checkpoint(out).name == "00000000-batch00000001-checkpoint.pth.tar"


def _trainer(out, **options):
    config = parse_config(tiny_config_dict(perceptual=[0] * 5, reconstruction_l1=1))
    return Trainer(config, RandomPairs(8), out, device="cpu", tensorboard=False, visualize=False,
                   diagnostics=False, **options)


def test_a_crash_mid_training_leaves_a_checkpoint_of_the_last_good_step(tmp_path, monkeypatch):
    straight = _trainer(tmp_path / "straight", max_steps=4)
    straight.fit()
    crashing = _trainer(tmp_path / "crash")
    original, calls = Trainer.train_step, []

    def failing(self, source, driving):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of memory (simulated)")
        return original(self, source, driving)

    monkeypatch.setattr(Trainer, "train_step", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        crashing.fit()
    monkeypatch.setattr(Trainer, "train_step", original)
    saved = latest_checkpoint(tmp_path / "crash")
    assert saved.name == "00000000-batch00000002-checkpoint.pth.tar"  # steps 1 and 2, not the failed third
    resumed = _trainer(tmp_path / "crash", max_steps=2)
    resumed.resume(saved)
    resumed.fit()
    _assert_same_weights(_weights(tmp_path / "straight"), _weights(tmp_path / "crash"))


def test_a_non_finite_loss_stops_training_and_keeps_the_last_finite_checkpoint(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path / "run")
    step, calls = trainer.generator_step, []

    def poisoned(*args, **kwargs):
        losses, out = step(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            losses["reconstruction_l1"] = losses["reconstruction_l1"] * float("nan")
        return losses, out

    monkeypatch.setattr(trainer, "generator_step", poisoned)
    with pytest.raises(TrainingError) as info:
        trainer.fit()
    message = str(info.value)
    assert "non-finite" in message and "reconstruction_l1" in message and "step 3" in message
    saved = latest_checkpoint(tmp_path / "run")
    assert saved.name == "00000000-batch00000002-checkpoint.pth.tar" and saved.name in message
    for state in read_checkpoint(saved).state_dicts.values():  # read_checkpoint refuses NaN weights, too
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_a_nan_checkpoint_is_not_trained_from(dataset_dir, tmp_path, capsys):
    trainer = _trainer(tmp_path / "run", max_steps=1)
    path = trainer.fit().checkpoint
    raw = torch.load(path, weights_only=True)
    key = next(k for k, v in raw["generator"].items() if v.is_floating_point())
    raw["generator"][key] = torch.full_like(raw["generator"][key], float("nan"))
    torch.save(raw, tmp_path / "nan.pth.tar")
    config = _config_file(tmp_path, perceptual=[0] * 5, reconstruction_l1=1)
    for start in (["--checkpoint", str(tmp_path / "nan.pth.tar")], ["--finetune", str(tmp_path / "nan.pth.tar"),
                                                                     "--config", str(config)]):
        out = tmp_path / f"from-{start[0][2:]}"
        assert main(["train", *start, "--data", str(dataset_dir), "--out", str(out), *COMMON]) == 2
        err = capsys.readouterr().err
        assert "non-finite" in err and err.count("\n") == 1
        assert not out.exists()
