"""A FOMM model after its AVD stage exports its AVD network (avd.onnx): ``--mode avd`` runs from the
export as from the checkpoint (within the export tests' 1e-4, one uint8 level in frames), ``fomm info``
lists the mode; an export without the network refuses the mode in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import fomm
from fomm.checkpoints import save_checkpoint
from fomm.cli import main
from fomm.config import AVDNetworkParams
from fomm.export import OnnxBackend, export_onnx
from fomm.io import read_image
from fomm.model import build_avd_network
from tests.cli.test_imports import NOT_FOR_INFO, _loaded, _modules_after
from tests.media import make_frame_folder, make_image

SIZE = 128  # the golden tiny checkpoint's frame size
ATOL = 1e-4


def _with_avd_network(model: fomm.FOMM) -> fomm.FOMM:
    """The tiny model with a random AVD network whose BatchNorm statistics are not the identity (an
    export that dropped them, or ran BatchNorm in training mode, would not match)."""
    model.config.model_params.avd_network_params = AVDNetworkParams(id_bottle_size=16, pose_bottle_size=24)
    torch.manual_seed(0)
    model.avd_network = build_avd_network(model.config.model_params)
    for module in model.avd_network.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def avd_checkpoint(golden, tmp_path_factory):
    model = _with_avd_network(fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu"))
    path = tmp_path_factory.mktemp("avd") / "tiny-avd.pth.tar"
    return save_checkpoint(path, model.networks(), model.config, 0)


@pytest.fixture(scope="module")
def exported(avd_checkpoint):
    out = avd_checkpoint.parent / "tiny-avd-onnx"
    assert main(["export", str(avd_checkpoint), "--format", "onnx", "-o", str(out), "--size", str(SIZE)]) == 0
    return out


def test_the_export_holds_the_avd_graph(exported):
    meta = json.loads((exported / "fomm-onnx.json").read_text())
    assert sorted(meta["graphs"]) == ["avd", "decode", "keypoints", "source"] and (exported / "avd.onnx").is_file()
    assert meta["graphs"]["avd"]["inputs"] == ["kp_source", "kp_driving", "jacobian_source", "jacobian_driving"]
    assert meta["format_version"] == 2  # a fomm reading only 1 asks to be upgraded, not "unknown graph avd"


@pytest.mark.parametrize("batch", [1, 3])
def test_avd_keypoints_match_pytorch(exported, avd_checkpoint, golden, batch):
    backend, model = OnnxBackend(exported, threads=1), fomm.load_model(avd_checkpoint, device="cpu")
    assert backend.modes == ("relative", "absolute", "avd") and model.avd_network is not None
    io = np.load(golden / "tiny-io.npz")
    source, driving = torch.from_numpy(io["source"][:1]), torch.from_numpy(io["driving"][:batch])
    with torch.no_grad():
        kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
        expected = model.avd_network(kp_source, kp_driving)
        ours = backend.normalize(kp_source, kp_driving, None, mode="avd", adapt_scale=False)
    assert ours.value.shape == (batch, 10, 2) and ours.jacobian.shape == (batch, 10, 2, 2)
    assert (expected.value - kp_driving.value).abs().max() > 0.1  # the network moves the keypoints
    torch.testing.assert_close(ours.value, expected.value, atol=ATOL, rtol=0)
    torch.testing.assert_close(ours.jacobian, expected.jacobian, atol=ATOL, rtol=0)


def test_cli_animates_the_export_in_avd_mode_like_the_checkpoint(exported, avd_checkpoint, tmp_path, capsys):
    source = make_image(tmp_path / "source.png", size=(80, 64))
    driving = make_frame_folder(tmp_path / "driving", n=3, size=(64, 80))
    common = [str(source), str(driving), "--size", str(SIZE), "--batch-size", "2", "--mode", "avd"]
    assert main(["animate", *common, "-o", str(tmp_path / "torch"), "--checkpoint", str(avd_checkpoint),
                 "--precision", "fp32"]) == 0
    assert main(["animate", *common, "-o", str(tmp_path / "ort"), "--backend", "onnxruntime",
                 "--model", str(exported)]) == 0
    ours = [read_image(p).astype(int) for p in sorted((tmp_path / "ort").glob("*.png"))]
    reference = [read_image(p).astype(int) for p in sorted((tmp_path / "torch").glob("*.png"))]
    assert len(ours) == len(reference) == 3
    assert max(np.abs(a - b).max() for a, b in zip(ours, reference, strict=True)) <= 1
    capsys.readouterr()
    assert main(["info", str(exported)]) == 0
    out = capsys.readouterr().out
    assert "modes: relative, absolute, avd (default relative)" in out and "avd.onnx" in out


def test_an_export_without_an_avd_network_refuses_avd_in_one_line(golden, tmp_path, capsys):
    plain = export_onnx(fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu"), tmp_path / "plain", size=SIZE)
    meta = json.loads((plain / "fomm-onnx.json").read_text())
    assert "avd" not in meta["graphs"] and meta["format_version"] == 1 and not (plain / "avd.onnx").exists()
    assert OnnxBackend(plain).modes == ("relative", "absolute")
    assert main(["info", str(plain)]) == 0
    assert "modes: relative, absolute (default relative)" in capsys.readouterr().out
    source = make_image(tmp_path / "s.png", size=(64, 64))
    driving = make_frame_folder(tmp_path / "d", n=2, size=(64, 64))
    out = tmp_path / "out.mp4"
    assert main(["animate", str(source), str(driving), "-o", str(out), "--backend", "onnxruntime",
                 "--model", str(plain), "--mode", "avd"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--mode avd" in err and "fomm train --stage avd" in err, err
    assert not out.exists()


def test_info_of_an_export_loads_no_heavy_modules(exported):
    assert _loaded(_modules_after(["info", str(exported)]), NOT_FOR_INFO) == []
