"""Exact resume: a run stopped anywhere (mid-epoch included) continues at the exact next batch, and a
stopped-and-resumed run ends with the same weights, optimizer states, schedules, loss scale and log as
an uninterrupted one. Checkpoints keep the authors' keys and meaning (``epoch`` = the last completed
epoch) and load with ``weights_only=True``."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import torch
import yaml

from fomm.checkpoints import read_checkpoint
from fomm.cli.main import main
from fomm.config import parse_config
from fomm.data.datasets import make_dataset
from fomm.training.state import STATE_KEY, capture_rng, restore_rng
from fomm.training.trainer import Trainer, latest_checkpoint

from .helpers import RandomPairs, assert_same_training, tiny_config_dict

ORIGINAL_KEYS = {"generator", "kp_detector", "discriminator", "optimizer_generator", "optimizer_kp_detector",
                 "optimizer_discriminator", "epoch"}
STEPS_PER_EPOCH = 4  # 4 videos x num_repeats 2 / batch_size 2


def _config():
    """Every random part on: the GAN, the equivariance transforms, random frame pairs, flips, jitter;
    the learning rate drops after epoch 0 (so a wrongly stepped schedule shows)."""
    data = tiny_config_dict(perceptual=[0] * 5, generator_gan=1, feature_matching=[1, 1], reconstruction_l1=1)
    data["train_params"]["num_repeats"] = 2
    data["dataset_params"]["augmentation_params"] = {
        "flip_param": {"horizontal_flip": True, "time_flip": True},
        "jitter_param": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1}}
    return parse_config(data)


def _trainer(dataset_dir, out, **options):
    config = _config()
    return Trainer(config, make_dataset(config, dataset_dir), out, device="cpu", tensorboard=False, seed=7,
                   **options)


@pytest.mark.slow
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(dataset_dir, tmp_path):
    straight = _trainer(dataset_dir, tmp_path / "straight")
    done = straight.fit()
    assert done.global_step == 2 * STEPS_PER_EPOCH and done.stop_reason is None

    # Stop in the middle of epoch 0, then in the middle of epoch 1 (crossing an epoch end), then finish;
    # the middle part loads with 2 DataLoader workers: the batches do not depend on who loads them.
    out = tmp_path / "stopped"
    first = _trainer(dataset_dir, out, max_steps=3).fit()
    assert (first.stop_reason, first.epoch, first.batch, first.global_step) == ("max_steps", 0, 3, 3)
    second = _trainer(dataset_dir, out, num_workers=2, max_steps=3)
    second.resume(latest_checkpoint(out))
    assert (second.epoch, second.batch_in_epoch, second.global_step) == (0, 3, 3)
    middle = second.fit()
    assert (middle.epoch, middle.batch, middle.global_step) == (1, 2, 6)
    last = _trainer(dataset_dir, out)
    last.resume(latest_checkpoint(out))
    end = last.fit()
    assert end.steps == 2 * STEPS_PER_EPOCH - 6 and end.stop_reason is None

    assert_same_training(straight, last)
    # The loss means of log.txt cover whole epochs, so they match to the last digit.
    assert (out / "log.txt").read_text() == (tmp_path / "straight" / "log.txt").read_text()
    # A finished run leaves the files an uninterrupted one leaves: the mid-epoch checkpoints are superseded.
    assert sorted(p.name for p in out.glob("*.pth.tar")) == ["00000000-checkpoint.pth.tar",
                                                              "00000001-checkpoint.pth.tar"]
    saved, reference = (torch.load(d / "00000001-checkpoint.pth.tar", weights_only=True)
                        for d in (out, tmp_path / "straight"))
    assert saved[STATE_KEY]["global_step"] == reference[STATE_KEY]["global_step"] == 2 * STEPS_PER_EPOCH


def test_mid_epoch_checkpoint_keeps_the_original_meaning(dataset_dir, tmp_path, capsys):
    out = tmp_path / "run"
    result = _trainer(dataset_dir, out, max_steps=3).fit()
    assert result.checkpoint == out / "00000000-batch00000003-checkpoint.pth.tar"
    assert not (out / "00000000-checkpoint.pth.tar").exists()  # epoch 0 is not finished
    assert not (out / "log.txt").exists() or (out / "log.txt").read_text() == ""  # one line per finished epoch
    raw = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert ORIGINAL_KEYS <= set(raw)
    assert raw["epoch"] == -1  # the last COMPLETED epoch, as in the original: none yet
    state = raw[STATE_KEY]
    assert (state["epoch"], state["batch"], state["global_step"]) == (0, 3, 3)
    # The learning rate is not stepped by a stop: still the epoch-0 rate.
    assert raw["optimizer_generator"]["param_groups"][0]["lr"] == pytest.approx(2e-3)
    assert main(["info", str(result.checkpoint)]) == 0
    assert "stopped after batch 3 of epoch 0 (step 3)" in capsys.readouterr().out

    # Crossing into epoch 1: epoch 0 is complete (its file, its log line), the stop is in epoch 1.
    trainer = _trainer(dataset_dir, out, max_steps=STEPS_PER_EPOCH)
    trainer.resume(result.checkpoint)
    second = trainer.fit()
    assert second.checkpoint == out / "00000001-batch00000003-checkpoint.pth.tar"
    assert (out / "00000000-checkpoint.pth.tar").exists()
    assert not result.checkpoint.exists()  # superseded by later checkpoints of the run
    raw = torch.load(second.checkpoint, map_location="cpu", weights_only=True)
    assert raw["epoch"] == 0 and raw[STATE_KEY]["epoch"] == 1 and raw[STATE_KEY]["batch"] == 3
    assert [line[:9] for line in (out / "log.txt").read_text().splitlines()] == ["00000000)"]
    assert read_checkpoint(second.checkpoint).epoch == 0

    # What ``Logger.load_cpk`` of the authors' code does with it: strict state dicts, optimizers, ``epoch``.
    fresh = _trainer(dataset_dir, tmp_path / "other")
    for name, net in fresh.model.networks().items():
        net.load_state_dict(raw[name])
        torch.testing.assert_close(net.state_dict(), trainer.model.networks()[name].state_dict(), rtol=0, atol=0)
    for name, optimizer in fresh.optimizers.items():
        optimizer.load_state_dict(raw[f"optimizer_{name}"])


def test_latest_checkpoint_orders_runs_by_position(tmp_path):
    def latest(*names):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        for name in names:
            (folder / name).write_bytes(b"")
        return latest_checkpoint(folder).name

    assert latest("00000001-checkpoint.pth.tar", "00000002-batch00000003-checkpoint.pth.tar") == \
        "00000002-batch00000003-checkpoint.pth.tar"
    assert latest("00000002-batch00000003-checkpoint.pth.tar", "00000002-checkpoint.pth.tar") == \
        "00000002-checkpoint.pth.tar"
    assert latest("00000002-batch00000010-checkpoint.pth.tar", "00000002-batch00000009-checkpoint.pth.tar") == \
        "00000002-batch00000010-checkpoint.pth.tar"
    assert latest("99999999-checkpoint.pth.tar", "100000000-checkpoint.pth.tar") == "100000000-checkpoint.pth.tar"
    # A temporary file of an interrupted save is never taken for a checkpoint.
    assert latest("00000001-checkpoint.pth.tar", ".00000002-checkpoint.pth.tar.partial.tar") == \
        "00000001-checkpoint.pth.tar"


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = capture_rng()
    expected = (random.random(), np.random.rand(3), torch.rand(3))
    torch.save(state, tmp_path / "rng.pt")
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert random.random() == expected[0]
    np.testing.assert_array_equal(np.random.rand(3), expected[1])
    torch.testing.assert_close(torch.rand(3), expected[2], rtol=0, atol=0)


def _fp16_scaled(trainer: Trainer) -> Trainer:
    """The fp16 loss scaling on CPU (the trainer only offers fp16 on CUDA): scalers that grow every
    step, so their state changes during the run."""
    trainer.scalers = {name: torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=1)
                       for name in trainer.scalers}
    return trainer


def test_fp16_loss_scale_is_saved_and_restored(tmp_path):
    data = tiny_config_dict(perceptual=[0] * 5, generator_gan=1, reconstruction_l1=1)
    data["train_params"]["num_repeats"] = 1  # 2 steps per epoch, 2 epochs
    config = parse_config(data)
    options = dict(device="cpu", tensorboard=False, visualize=False, seed=3)
    straight = _fp16_scaled(Trainer(config, RandomPairs(), tmp_path / "a", **options))
    straight.fit()
    first = _fp16_scaled(Trainer(config, RandomPairs(), tmp_path / "b", max_steps=3, **options))
    stopped = first.fit()
    raw = torch.load(stopped.checkpoint, weights_only=True)
    assert raw[STATE_KEY]["scalers"]["generator"]["scale"] == first.scalers["generator"].get_scale() > 2.0**8
    second = _fp16_scaled(Trainer(config, RandomPairs(), tmp_path / "b", **options))
    second.resume(stopped.checkpoint)
    assert second.scalers["generator"].get_scale() == first.scalers["generator"].get_scale()
    second.fit()
    assert_same_training(straight, second)
    for name, scaler in straight.scalers.items():
        assert second.scalers[name].state_dict() == scaler.state_dict()


def test_resume_with_other_amp_or_seed_says_what_changes(tmp_path, caplog):
    config = parse_config(tiny_config_dict(perceptual=[0] * 5, reconstruction_l1=1))
    options = dict(device="cpu", tensorboard=False, visualize=False)
    path = Trainer(config, RandomPairs(), tmp_path, max_steps=1, amp="bf16", seed=5, **options).fit().checkpoint
    trainer = Trainer(config, RandomPairs(), tmp_path, seed=6, **options)
    with caplog.at_level(logging.WARNING, logger="fomm.training"):
        trainer.resume(path)
    text = caplog.text
    assert "--amp bf16" in text and "seed 5" in text
    assert trainer.seed == 5  # one run, one random stream: the checkpoint's seed goes on


def test_cli_resume_keeps_the_checkpoints_amp(dataset_dir, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(perceptual=[0] * 5, reconstruction_l1=1)))
    out = tmp_path / "run"
    common = ["--out", str(out), "--workers", "0", "--device", "cpu", "--threads", "1", "--max-steps", "1"]
    assert main(["train", "--config", str(config), "--data", str(dataset_dir), "--amp", "bf16", *common]) == 0
    assert main(["train", "--checkpoint", str(out), *common]) == 0  # no --amp: the checkpoint's
    raw = torch.load(latest_checkpoint(out), weights_only=True)
    assert (raw[STATE_KEY]["amp"], raw[STATE_KEY]["global_step"]) == ("bf16", 2)
    assert main(["train", "--checkpoint", str(out), "--amp", "off", *common]) == 0
    assert torch.load(latest_checkpoint(out), weights_only=True)[STATE_KEY]["amp"] is None

    raw[STATE_KEY]["amp"] = "fp16"  # trained on a GPU, resumed on a CPU
    torch.save(raw, tmp_path / "fp16.pth.tar")
    capsys.readouterr()
    assert main(["train", "--checkpoint", str(tmp_path / "fp16.pth.tar"), *common]) == 2
    assert "pass --precision bf16 or --precision fp32 to resume here" in capsys.readouterr().err


def test_cli_precision_is_the_one_vocabulary_and_amp_its_alias(dataset_dir, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(perceptual=[0] * 5, reconstruction_l1=1)))
    out = tmp_path / "run"
    common = ["--out", str(out), "--workers", "0", "--device", "cpu", "--threads", "1", "--max-steps", "1"]
    assert main(["train", "--config", str(config), "--data", str(dataset_dir), "--precision", "bf16", *common]) == 0
    assert torch.load(latest_checkpoint(out), weights_only=True)[STATE_KEY]["amp"] == "bf16"  # the old key: old
    assert main(["train", "--checkpoint", str(out), "--precision", "fp32", *common]) == 0  # fomm reads it too
    assert torch.load(latest_checkpoint(out), weights_only=True)[STATE_KEY]["amp"] is None
    with pytest.raises(SystemExit):
        main(["train", "--checkpoint", str(out), "--precision", "bf16", "--amp", "bf16", *common])
    assert "not allowed with argument" in capsys.readouterr().err
