"""``fomm convert`` keeps what the output can hold (epoch, optimizer states, other training state) and
names, one line each, what it drops."""

from __future__ import annotations

import hashlib

import pytest
import torch
import yaml
from safetensors import safe_open

import fomm
from fomm.checkpoints import read_checkpoint, save_checkpoint
from fomm.cli import main
from fomm.model import FOMM
from tests.animation.helpers import tiny_config


@pytest.fixture(scope="module")
def training_checkpoint(golden, tmp_path_factory):
    """A checkpoint as training leaves it: three networks, their optimizers (with state), epoch, a scheduler."""
    torch.manual_seed(0)
    model = FOMM(tiny_config(golden), with_discriminator=True)
    optimizers = {}
    for name, net in model.networks().items():
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
        sum(p.sum() for p in net.parameters()).backward()
        optimizer.step()
        optimizers[name] = optimizer
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizers["generator"], [60, 90])
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "00000007-checkpoint.pth.tar", model.networks(),
                           model.config, epoch=7, optimizers=optimizers,
                           extra={"scheduler_generator": scheduler.state_dict()})


def _convert(capsys, *argv):
    assert main(["convert", *map(str, argv)]) == 0
    captured = capsys.readouterr()
    return captured.out, [line for line in captured.err.splitlines() if line.strip()]


def test_pth_keeps_everything(training_checkpoint, tmp_path, capsys):
    out = tmp_path / "copy.pth.tar"
    printed, dropped = _convert(capsys, training_checkpoint, out)
    assert dropped == [] and "epoch 7" in printed
    before, after = read_checkpoint(training_checkpoint), read_checkpoint(out)
    assert after.epoch == 7 and sorted(after.state_dicts) == ["discriminator", "generator", "kp_detector"]
    assert sorted(after.optimizers) == sorted(before.optimizers) == ["optimizer_discriminator", "optimizer_generator",
                                                                      "optimizer_kp_detector"]
    for name, state in before.optimizers.items():
        torch.testing.assert_close(after.optimizers[name]["state"], state["state"])
    assert after.extra == before.extra


def test_inference_only_names_each_dropped_item(training_checkpoint, tmp_path, capsys):
    out = tmp_path / "small.pth.tar"
    _, dropped = _convert(capsys, training_checkpoint, out, "--inference-only")
    names = sorted(line.split("dropped ")[1].split(":")[0] for line in dropped)
    assert names == ["discriminator", "optimizer_discriminator", "optimizer_generator", "optimizer_kp_detector",
                     "scheduler_generator"]
    assert all(line.startswith("fomm convert: dropped ") and "--inference-only" in line for line in dropped)
    after = read_checkpoint(out)
    assert sorted(after.state_dicts) == ["generator", "kp_detector"] and after.optimizers == {} and after.extra == {}


def test_safetensors_says_what_it_cannot_hold(training_checkpoint, tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    _, dropped = _convert(capsys, training_checkpoint, out)
    assert sorted(line.split("dropped ")[1].split(":")[0] for line in dropped) == [
        "optimizer_discriminator", "optimizer_generator", "optimizer_kp_detector", "scheduler_generator"]
    assert all("write a .pth.tar to keep it" in line for line in dropped)
    after = read_checkpoint(out)
    assert after.epoch == 7 and sorted(after.state_dicts) == ["discriminator", "generator", "kp_detector"]


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
