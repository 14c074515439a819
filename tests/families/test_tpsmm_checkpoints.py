"""A TPSMM checkpoint in the authors' format is recognized, loaded strictly, described and converted with
its optimizer state intact."""

from __future__ import annotations

import pytest
import torch

import fomm
from fomm.checkpoints import CheckpointError, read_checkpoint
from fomm.cli import main


@pytest.fixture(scope="module")
def tpsmm_tiny(golden):
    path = golden / "tpsmm-tiny.pth.tar"
    if not path.exists():
        pytest.fail(f"golden fixture {path} is missing", pytrace=False)
    return path


def test_read_in_the_original_format(tpsmm_tiny):
    ckpt = read_checkpoint(tpsmm_tiny)
    assert ckpt.family == "tpsmm" and ckpt.epoch == 7 and ckpt.config is None
    assert list(ckpt.state_dicts) == ["inpainting_network", "kp_detector", "dense_motion_network", "avd_network",
                                      "bg_predictor"]
    assert list(ckpt.optimizers) == ["optimizer"] and ckpt.extra == {}


def test_load_model_infers_the_config_and_loads_strictly(tpsmm_tiny):
    model = fomm.load_model(tpsmm_tiny, device="cpu")
    assert model.family == "tpsmm" and not model.training
    assert model.config.model_params.common_params.num_tps == 3
    saved = read_checkpoint(tpsmm_tiny).state_dicts["kp_detector"]
    torch.testing.assert_close(model.kp_detector.state_dict(), dict(saved), rtol=0, atol=0)


def test_a_config_of_another_family_is_refused_by_name(tpsmm_tiny):
    with pytest.raises(CheckpointError, match="holds .*tpsmm.* networks but the config is a fomm config"):
        fomm.load_model(tpsmm_tiny, config="vox-256")


def test_a_disagreeing_config_lists_keys_and_shapes(tpsmm_tiny):
    with pytest.raises(CheckpointError, match=r"disagree:\n  inpainting_network\.first\.conv\.weight: config gives "
                                              r"\(64, 3, 7, 7\), checkpoint has \(8, 3, 7, 7\)"):
        fomm.load_model(tpsmm_tiny, config="tpsmm-vox-256")


def test_info_names_the_family(tpsmm_tiny, capsys):
    assert main(["info", str(tpsmm_tiny)]) == 0
    printed = capsys.readouterr().out
    assert "family: tpsmm: Thin-Plate Spline Motion Model" in printed and "modes: relative, absolute, avd" in printed
    assert "3 TPS transforms (15 keypoints)" in printed


def test_convert_round_trips_optimizer_and_epoch(tpsmm_tiny, tmp_path, capsys):
    out = tmp_path / "copy.pth.tar"
    assert main(["convert", str(tpsmm_tiny), str(out)]) == 0
    capsys.readouterr()
    before, after = torch.load(tpsmm_tiny, weights_only=True), torch.load(out, weights_only=True)
    assert set(after) == set(before) | {"config"}
    assert after["epoch"] == before["epoch"]
    torch.testing.assert_close(after["optimizer"], before["optimizer"], rtol=0, atol=0)
    for name in read_checkpoint(tpsmm_tiny).state_dicts:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0)
    assert read_checkpoint(out).config == fomm.load_model(tpsmm_tiny, device="cpu").config


def test_convert_to_safetensors_and_back(tpsmm_tiny, tmp_path, capsys):
    out = tmp_path / "tiny.safetensors"
    assert main(["convert", str(tpsmm_tiny), str(out)]) == 0
    assert "dropped optimizer" in capsys.readouterr().err
    ckpt = read_checkpoint(out)
    assert ckpt.family == "tpsmm" and ckpt.config is not None
    model = fomm.load_model(out, device="cpu")
    torch.testing.assert_close(model.inpainting_network.state_dict(),
                               dict(read_checkpoint(tpsmm_tiny).state_dicts["inpainting_network"]), rtol=0, atol=0)
