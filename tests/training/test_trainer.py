"""The training loop on tiny generated videos: it learns, writes the original's files, resumes exactly,
stops early with a checkpoint, fine-tunes across configs."""

from __future__ import annotations

import os
import re
import signal

import numpy as np
import pytest
import torch
from PIL import Image

import fomm
from fomm.checkpoints import CheckpointError, read_checkpoint
from fomm.config import load_config
from fomm.data.datasets import make_dataset
from fomm.model import FOMM
from fomm.training import train
from fomm.training.checkpointing import load_matching_weights
from fomm.training.logs import format_log_line
from fomm.training.trainer import Trainer, TrainingError

from .helpers import RandomPairs, tiny_config

ORIGINAL_KEYS = {"generator", "kp_detector", "discriminator", "optimizer_generator", "optimizer_kp_detector",
                 "optimizer_discriminator", "epoch"}
LOG_LINE = re.compile(r"^\d{8}\) ([a-z0-9_]+ - \d+\.\d{5})(; [a-z0-9_]+ - \d+\.\d{5})*$")


@pytest.fixture(scope="module")
def run(dataset_dir, vgg, tmp_path_factory):
    """Three epochs of 16 steps on moving squares, with every generator loss on."""
    out = tmp_path_factory.mktemp("run")
    config = tiny_config(reconstruction_l1=10)
    config.train_params.num_epochs = 3
    config.train_params.num_repeats = 8
    config.train_params.checkpoint_freq = 2
    dataset = make_dataset(config, dataset_dir)
    steps = []
    result = train(config, dataset, out, vgg=vgg, device="cpu", on_step=lambda step, losses: steps.append(losses))
    return config, out, result, steps


def _log(out) -> list[dict[str, float]]:
    lines = (out / "log.txt").read_text().splitlines()
    assert all(LOG_LINE.match(line) for line in lines), lines
    return [{k: float(v) for k, v in (item.split(" - ") for item in line.split(") ", 1)[1].split("; "))}
            for line in lines]


def test_training_learns_and_writes_the_original_files(run):
    config, out, result, steps = run
    assert result.steps == len(steps) == 48 and result.epoch == 2 and result.stop_reason is None
    log = _log(out)
    # the original's loss columns first, then the keypoint diagnostics (on the last batch: no part tracks)
    assert [list(line)[:4] for line in log] == [["perceptual", "equivariance_value", "equivariance_jacobian",
                                                 "reconstruction_l1"]] * 3
    assert all(sorted(list(line)[4:]) == ["kp_distance", "kp_heatmap_peak", "kp_heatmap_spread", "kp_near"]
               for line in log)
    assert all(0 <= line["kp_near"] <= 1 and line["kp_distance"] < 32 * 1.5 for line in log)
    assert log[-1]["reconstruction_l1"] < 0.7 * log[0]["reconstruction_l1"]
    first = sum(s["reconstruction_l1"] for s in steps[:5]) / 5
    last = sum(s["reconstruction_l1"] for s in steps[-5:]) / 5
    assert last < 0.6 * first, (first, last)
    names = sorted(p.name for p in out.iterdir())
    assert "00000001-checkpoint.pth.tar" in names and "00000002-checkpoint.pth.tar" in names  # freq 2, and the end
    assert "00000000-checkpoint.pth.tar" not in names
    assert sorted(p.name for p in (out / "train-vis").iterdir()) == sorted(
        [f"{e:08d}-rec.png" for e in range(3)] + [f"{e:08d}-kp.png" for e in range(3)])
    assert any(n.startswith("events.out.tfevents") for n in names) and "config.yaml" in names
    assert result.checkpoint == out / "00000002-checkpoint.pth.tar"


def test_checkpoint_has_the_original_format(run):
    config, out, result, _ = run
    raw = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert ORIGINAL_KEYS <= set(raw) and raw["epoch"] == 2
    model = fomm.load_model(result.checkpoint, device="cpu")
    assert model.config.model_params == config.model_params
    with torch.no_grad():
        kp = model.kp_detector(torch.rand(1, 3, 32, 32))
    assert kp.value.shape == (1, 3, 2)


def test_resume_continues_at_the_next_epoch(run, dataset_dir, vgg):
    config, out, result, _ = run
    config.train_params.num_epochs = 4
    trainer = Trainer(config, make_dataset(config, dataset_dir), out, vgg=vgg, device="cpu", tensorboard=False,
                      visualize=False)
    ckpt = trainer.resume(result.checkpoint)
    assert trainer.start_epoch == 3 and trainer.global_step == 48
    for name, optimizer in trainer.optimizers.items():
        saved, restored = ckpt.optimizers[f"optimizer_{name}"], optimizer.state_dict()
        assert restored["param_groups"][0]["lr"] == saved["param_groups"][0]["lr"]
        for key, state in saved["state"].items():
            torch.testing.assert_close(restored["state"][key]["exp_avg"], state["exp_avg"], rtol=0, atol=0)
    # milestone [1]: the rate was divided by 10 after epoch 0 and stays so
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(2e-4)
    resumed = trainer.fit()
    assert resumed.epoch == 3 and resumed.steps == 16 and resumed.global_step == 64
    assert [line.split(")")[0] for line in (out / "log.txt").read_text().splitlines()] == [f"{e:08d}" for e in range(4)]


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    config = tiny_config(perceptual=[0] * 5, generator_gan=1, reconstruction_l1=1)
    config.train_params.num_epochs = 2
    options = dict(device="cpu", tensorboard=False, visualize=False, seed=3)
    straight = Trainer(config, RandomPairs(), tmp_path / "a", **options)
    straight.fit()
    config.train_params.num_epochs = 1
    first = Trainer(config, RandomPairs(), tmp_path / "b", **options)
    half = first.fit()
    config.train_params.num_epochs = 2
    second = Trainer(config, RandomPairs(), tmp_path / "b", **options)
    second.resume(half.checkpoint)
    second.fit()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(second.model.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)


@pytest.mark.parametrize("limit", ["max_steps", "max_minutes", "interrupted"])
def test_early_stop_writes_a_checkpoint(tmp_path, limit):
    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1)
    options = {"max_steps": {"max_steps": 3}, "max_minutes": {"max_minutes": 1e-9}, "interrupted": {}}[limit]
    trainer = Trainer(config, RandomPairs(), tmp_path, device="cpu", tensorboard=False, **options)

    def on_step(step, losses):
        if limit == "interrupted" and step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: handled as a clean stop after this step

    result = trainer.fit(on_step=on_step)
    assert result.stop_reason == limit
    steps = {"max_steps": 3, "max_minutes": 1, "interrupted": 2}[limit]
    assert result.steps == result.batch == steps and result.epoch == 0
    # The unfinished epoch is not saved as a finished one: its own name, `epoch` = none finished yet.
    assert result.checkpoint == tmp_path / f"00000000-batch{steps:08d}-checkpoint.pth.tar"
    assert read_checkpoint(result.checkpoint).epoch == -1
    assert not (tmp_path / "log.txt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_finetune_loads_the_matching_weights(run, tmp_path):
    _, _, result, _ = run
    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1)
    config.model_params.common_params.num_kp = 4
    trainer = Trainer(config, RandomPairs(), tmp_path, device="cpu", tensorboard=False)
    skipped = trainer.finetune(result.checkpoint)
    assert any(line.startswith("kp_detector.kp.weight: config gives (4,") for line in skipped)
    assert any(line.startswith("generator.dense_motion_network.mask.weight") for line in skipped)
    saved = read_checkpoint(result.checkpoint).state_dicts
    torch.testing.assert_close(trainer.model.generator.first.conv.weight, saved["generator"]["first.conv.weight"])
    assert trainer.start_epoch == 0


def test_load_matching_weights_lists_every_difference():
    source = FOMM(tiny_config(), with_discriminator=False)
    config = tiny_config()
    config.model_params.generator_params.num_bottleneck_blocks = 2
    target = FOMM(config, with_discriminator=True)
    state = {name: net.state_dict() for name, net in source.networks().items()}
    skipped = load_matching_weights(target.networks(), state)
    assert "discriminator: not in the checkpoint, kept freshly initialized" in skipped
    assert any(line.startswith("generator.bottleneck.r1.conv1.weight: in the config's network") for line in skipped)
    torch.testing.assert_close(target.kp_detector.kp.weight, source.kp_detector.kp.weight, rtol=0, atol=0)


def test_resume_refuses_another_architecture_and_finished_runs(run, tmp_path):
    _, _, result, _ = run
    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1)
    config.model_params.common_params.num_kp = 4
    trainer = Trainer(config, RandomPairs(), tmp_path, device="cpu", tensorboard=False)
    with pytest.raises(CheckpointError, match="--finetune"):
        trainer.resume(result.checkpoint)
    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1)
    trainer = Trainer(config, RandomPairs(), tmp_path, device="cpu", tensorboard=False)
    trainer.resume(result.checkpoint)
    with pytest.raises(TrainingError, match="num_epochs"):
        trainer.fit()


def test_resume_of_an_original_checkpoint(golden, vgg, tmp_path):
    """The authors' files have no scheduler state: the rate follows the milestones from the epoch."""
    config = load_config(golden / "tiny.yaml")
    config.train_params.epoch_milestones = [5, 20]
    trainer = Trainer(config, RandomPairs(size=128), tmp_path, vgg=vgg, device="cpu", tensorboard=False)
    trainer.resume(golden / "tiny-cpk.pth.tar")
    assert trainer.start_epoch == 8
    for optimizer in trainer.optimizers.values():
        assert optimizer.param_groups[0]["lr"] == pytest.approx(2e-5)


def test_amp_and_bad_setups_are_refused(tmp_path):
    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1)
    with pytest.raises(TrainingError, match="bf16"):
        Trainer(config, RandomPairs(), tmp_path, device="cpu", amp="fp16")
    trainer = Trainer(config, RandomPairs(), tmp_path, device="cpu", amp="bf16", tensorboard=False)
    losses, _ = trainer.train_step(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert all(torch.isfinite(v) and v.dtype == torch.float32 for v in losses.values())
    config.train_params.batch_size = 8
    config.train_params.num_repeats = 1
    with pytest.raises(TrainingError, match="fewer than train_params.batch_size"):
        Trainer(config, RandomPairs(length=4), tmp_path, device="cpu")
    config = tiny_config(perceptual=[0] * 5, equivariance_value=0, equivariance_jacobian=0)
    with pytest.raises(TrainingError, match="nothing to train"):
        Trainer(config, RandomPairs(), tmp_path, device="cpu")


def test_log_line_format():
    line = format_log_line(3, {"disc_gan": 0.5, "perceptual": 81.234567, "equivariance_value": 0.1})
    assert line == "00000003) perceptual - 81.23457; equivariance_value - 0.10000; disc_gan - 0.50000"


def test_keypoint_diagnostics_on_synthetic_data_and_the_collapse_warning(tmp_path, caplog):
    """On data with part tracks the log gains per-part coverage; keypoints that all coincide are warned about."""
    from fomm.data.synthetic import make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "data", num_videos=4, num_frames=4, size=32, test_fraction=0.25).root
    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1)
    config.dataset_params.root_dir = str(root)
    config.train_params.num_epochs = 1
    trainer = Trainer(config, make_dataset(config), tmp_path / "run", device="cpu", tensorboard=False)
    with torch.no_grad():  # uniform heatmaps: every keypoint at the frame's centre
        trainer.model.kp_detector.kp.weight.zero_()
        trainer.model.kp_detector.kp.bias.zero_()
    for group in trainer.optimizers["kp_detector"].param_groups:
        group["lr"] = 0.0
    with caplog.at_level("WARNING", logger="fomm.training.diagnostics"):
        trainer.fit()
    (line,) = (tmp_path / "run" / "log.txt").read_text().splitlines()
    assert LOG_LINE.match(line)
    values = dict(item.split(" - ") for item in line.split(") ", 1)[1].split("; "))
    assert {"kp_hits_torso", "kp_hits_limb1", "kp_part_hits_min", "kp_part_distance"} <= set(values)
    assert float(values["kp_near"]) == 1.0
    assert any("keypoints collapsed" in r.message for r in caplog.records)
    picture = np.asarray(Image.open(tmp_path / "run" / "train-vis" / "00000000-kp.png"))
    assert picture.shape == (64, 32 * 4, 3)  # 4 probe frames over their heatmaps


@pytest.mark.parametrize("option", ["channels_last", "fused_adam"])
def test_channels_last_and_fused_adam_steps_equal_the_default_ones(tmp_path, option):
    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1)
    pairs = RandomPairs()
    x = torch.stack([pairs[i]["source"] for i in range(2)]), torch.stack([pairs[i]["driving"] for i in range(2)])
    results = []
    for enabled in (False, True):
        torch.manual_seed(0)
        trainer = Trainer(config, pairs, tmp_path, device="cpu", tensorboard=False, diagnostics=False,
                          **{option: enabled})
        losses = []
        for step in range(3):
            torch.manual_seed(10 + step)  # the same transform noise
            losses.append({k: float(v) for k, v in trainer.train_step(*x)[0].items()})
        results.append(losses)
        if enabled and option == "channels_last":
            weight = trainer.model.generator.first.conv.weight
            assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
        if option == "fused_adam":
            assert all(opt.defaults["fused"] is (True if enabled else None) for opt in trainer.optimizers.values())
    default, changed = results
    # the same losses at every step, so the Adam updates between them were the same too
    for a, b in zip(default, changed, strict=True):
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-4) for k in a), (a, b)


def test_bf16_on_a_cpu_without_bf16_instructions_is_warned_about(tmp_path, caplog, monkeypatch):
    import fomm.precision as precision  # the one CPU feature probe, shared with inference

    plain = precision.CpuFeatures("Plain CPU", avx512_bf16=False, amx_bf16=False, amx_fp16=False)
    monkeypatch.setattr(precision, "cpu_features", lambda: plain)
    with caplog.at_level("WARNING", logger="fomm.training.trainer"):
        Trainer(tiny_config(perceptual=[0] * 5, reconstruction_l1=1), RandomPairs(), tmp_path, device="cpu",
                tensorboard=False, amp="bf16")
    assert any("AVX512-BF16" in r.message and "slower than fp32" in r.message for r in caplog.records)
    amx = precision.CpuFeatures("AMX CPU", avx512_bf16=True, amx_bf16=True, amx_fp16=False)
    monkeypatch.setattr(precision, "cpu_features", lambda: amx)
    caplog.clear()
    with caplog.at_level("WARNING", logger="fomm.training.trainer"):
        Trainer(tiny_config(perceptual=[0] * 5, reconstruction_l1=1), RandomPairs(), tmp_path, device="cpu",
                tensorboard=False, amp="bf16")
    assert not caplog.records


def test_precision_auto_trains_in_what_the_cpu_runs_natively(tmp_path, monkeypatch):
    import fomm.precision as precision

    config = tiny_config(perceptual=[0] * 5, reconstruction_l1=1)
    for features, expected in ((precision.CpuFeatures("Plain CPU", False, False, False), "fp32"),
                               (precision.CpuFeatures("AMX CPU", True, True, False), "bf16")):
        monkeypatch.setattr(precision, "cpu_features", lambda features=features: features)
        trainer = Trainer(config, RandomPairs(), tmp_path, device="cpu", precision="auto", tensorboard=False)
        assert (trainer.precision.name, trainer.training_state().precision) == (expected, expected)
    alias = Trainer(config, RandomPairs(), tmp_path, device="cpu", amp="bf16", tensorboard=False)
    assert alias.precision.name == "bf16"
