"""The family registry: a checkpoint's family is told by its keys in one place, and reading, saving and
backends follow the family (fomm.families)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import fomm.families as families
from fomm.animation.backend import TorchBackend
from fomm.checkpoints import CheckpointError, read_checkpoint, save_checkpoint
from fomm.config import ConfigError, load_config
from fomm.model import FOMM
from tests.animation.helpers import tiny_config


def test_fomm_is_detected_by_its_sentinel_keys():
    assert families.detect_family({"generator", "kp_detector", "discriminator", "epoch"}).name == "fomm"
    assert families.detect_family({"kp_detector", "epoch"}) is None
    assert families.detect_family({"model"}) is None


@pytest.fixture
def toy_family(monkeypatch):
    """A made-up family registered the way fomm/families/<name>.py registers: proof that reading follows
    the registry rather than FOMM's key names."""
    toy = dataclasses.replace(families.get_family("fomm"), name="toy", title="Toy",
                              sentinels=frozenset({"mover", "painter"}), networks=("mover", "painter", "critic"),
                              required=("mover", "painter"),
                              optimizer_keys=("optimizer", "optimizer_critic"),
                              epoch_keys=("epoch_stage1", "epoch_stage2"))
    families.families()
    monkeypatch.setitem(families._REGISTRY, "toy", toy)
    return toy


def test_a_registered_family_is_read_with_its_optimizer_and_epoch_keys(toy_family, tmp_path):
    net = {"w": torch.ones(2)}
    optimizer = {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    path = tmp_path / "toy.pth.tar"
    torch.save({"mover": net, "painter": net, "optimizer": optimizer, "epoch_stage2": 12, "note": "kept"}, path)
    ckpt = read_checkpoint(path)
    assert (ckpt.family, ckpt.epoch, ckpt.epoch_key) == ("toy", 12, "epoch_stage2")
    assert list(ckpt.state_dicts) == ["mover", "painter"]
    assert list(ckpt.optimizers) == ["optimizer"] and ckpt.extra == {"note": "kept"}
    # Written back, every key keeps its name: 'optimizer' is not renamed 'optimizer_optimizer'.
    modules = {name: torch.nn.Module() for name in ckpt.state_dicts}
    for name, module in modules.items():
        module.register_buffer("w", ckpt.state_dicts[name]["w"])
    again = save_checkpoint(tmp_path / "again.pth.tar", modules, epoch=ckpt.epoch, optimizers=ckpt.optimizers,
                            extra=ckpt.extra, epoch_key=ckpt.epoch_key)
    assert sorted(torch.load(again, weights_only=True)) == ["epoch_stage2", "mover", "note", "optimizer", "painter"]


def test_a_family_checkpoint_without_a_required_network_names_it(toy_family, tmp_path):
    torch.save({"mover": {"w": torch.ones(1)}, "painter": {"w": torch.ones(1)}}, tmp_path / "ok.pth")
    assert read_checkpoint(tmp_path / "ok.pth").family == "toy"
    toy_family_without = dataclasses.replace(toy_family, required=("mover", "painter", "critic"))
    families._REGISTRY["toy"] = toy_family_without
    with pytest.raises(CheckpointError, match="a toy checkpoint without critic weights"):
        read_checkpoint(tmp_path / "ok.pth")


def test_unknown_keys_list_what_each_family_expects(tmp_path):
    torch.save({"encoder": {"w": torch.ones(1)}}, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match=r"'generator' \+ 'kp_detector' \(fomm\)"):
        read_checkpoint(tmp_path / "x.pth")


def test_safetensors_records_the_family(golden, tmp_path):
    model = FOMM(tiny_config(golden))
    path = save_checkpoint(tmp_path / "m.safetensors", model.networks(), model.config)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["family"] == "fomm"
    assert read_checkpoint(path).family == "fomm"


def test_backend_for_a_fomm_model_is_the_torch_backend(golden):
    model = FOMM(tiny_config(golden)).eval()
    backend = families.backend_for(model, precision="fp32", channels_last=False)
    assert isinstance(backend, TorchBackend) and backend.model is model and backend.precision == "fp32"


def test_config_family_follows_the_config_type(golden):
    assert families.config_family(tiny_config(golden)).name == "fomm"
    assert families.read_config("vox-256")[0].name == "fomm"
    with pytest.raises(TypeError, match="not a model config"):
        families.config_family(object())


@pytest.mark.parametrize("name", ["vox-256", "tpsmm-vox-256", "tpsmm-ted-384", "mraa-ted-384", "mraa-vox-256"])
def test_load_config_reads_every_familys_presets(name):
    """fomm.config.load_config (and fomm.load_config) parse a preset by the family its sections name."""
    config = load_config(name)
    family = families.config_family(config)
    assert name in family.presets
    assert config.frame_size == (384 if "384" in name else 256)


def test_load_config_reads_a_family_yaml_and_names_its_own_keys(golden, tmp_path):
    assert families.config_family(load_config(golden / "mraa-tiny.yaml")).name == "mraa"
    assert families.config_family(load_config(golden / "tpsmm-tiny.yaml")).name == "tpsmm"
    typo = tmp_path / "typo.yaml"
    typo.write_text((golden / "tpsmm-tiny.yaml").read_text().replace("num_tps:", "num_tsp:"))
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown config key 'model_params\.common_params\.num_tsp' "
                                          r"\(did you mean 'num_tps'\?\)"):
        load_config(typo)
