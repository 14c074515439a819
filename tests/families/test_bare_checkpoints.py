"""Checkpoints that store no config (every published TPSMM and MRAA file): the frame size leaves no trace in
the weights, so the one bundled preset with their networks gives it; where presets of two frame sizes share
the networks (the TED models: 384 px, with the networks of the 256 px vox and taichi ones) the messages name
the fix (--config PRESET or --size)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
import yaml

import fomm
import fomm.families as families
from fomm.api import ModelSource, describe_model
from fomm.checkpoints import Checkpoint, checkpoint_config, read_checkpoint
from fomm.cli import main

UNIQUE = ("tpsmm-mgif-256", "mraa-ted-youtube-384", "mraa-mgif-256")
SHARED = {"tpsmm-vox-256": "tpsmm-ted-384", "tpsmm-ted-384": "tpsmm-ted-384", "mraa-taichi-256": "mraa-ted-384",
          "mraa-ted-384": "mraa-ted-384"}


def _bare(preset: str) -> Checkpoint:
    """The checkpoint a published model of ``preset`` is: its networks' tensors (on the meta device: only
    shapes count), no config."""
    family, config = families.read_config(preset)
    with torch.device("meta"):
        model = family.build_model(config, family.networks)
    return Checkpoint({name: net.state_dict() for name, net in model.networks().items()}, family=family.name)


@pytest.mark.parametrize("preset", UNIQUE)
def test_a_preset_told_by_its_shapes_gives_the_config(preset):
    config, stored = checkpoint_config(_bare(preset))
    assert not stored
    assert config == families.read_config(preset)[1]  # its frame size, description and training values
    assert families.frame_size_note(config) is None
    described = describe_model(config, ModelSource("x.pth.tar", None), config_stored=False)
    assert f"{config.frame_size}x{config.frame_size} as {preset}" in described and "assumed" not in described


@pytest.mark.parametrize("preset", SHARED)
def test_networks_shared_by_two_frame_sizes_name_the_fix(preset):
    config, _ = checkpoint_config(_bare(preset))
    assert config.frame_size == 256
    note = families.frame_size_note(config)
    ted = SHARED[preset]
    assert note is not None and "(384 px)" in note and "running at 256 px" in note
    assert f"pass --config {ted} or --size 384" in note
    assert "256x256 assumed" in describe_model(config, ModelSource("x.pth.tar", None), config_stored=False)


@pytest.fixture
def tiny_sizes(golden, monkeypatch, tmp_path):
    """The TPSMM family with two presets of the golden tiny checkpoint's networks, at 128 px and at 256 px
    (the size inferred), as the published vox (256) and ted (384) share theirs."""
    inferred = families.get_family("tpsmm").infer_config(read_checkpoint(golden / "tpsmm-tiny.pth.tar").state_dicts)
    presets = []
    for size in (128, 256):
        data = inferred.to_dict()
        data["dataset_params"]["frame_shape"] = [size, size, 3]
        presets.append(tmp_path / f"tpsmm-tiny-{size}.yaml")
        presets[-1].write_text(yaml.safe_dump(data))
    tpsmm = families.get_family("tpsmm")
    monkeypatch.setitem(families._REGISTRY, "tpsmm", dataclasses.replace(tpsmm, presets=tuple(map(str, presets))))
    return presets


def test_loading_warns_with_the_fix_unless_a_size_is_given(golden, tiny_sizes, caplog, capsys):
    path = golden / "tpsmm-tiny.pth.tar"
    with caplog.at_level(logging.WARNING, logger="fomm.api"):
        model = fomm.load_model(path, device="cpu")
    assert model.config.frame_size == 256  # as inferred: the size of one preset, not the other
    assert "tpsmm-tiny.pth.tar: no config is stored" in caplog.text
    assert f"pass --config {tiny_sizes[0]} or --size 128" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fomm.api"):
        fomm.load_model(path, device="cpu", size=128)
    assert "no config is stored" not in caplog.text
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "256x256 assumed" in out and "frame size: no config is stored" in out and "--size 128" in out
