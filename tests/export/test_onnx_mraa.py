"""MRAA's ONNX export: the graphs (the PCA in closed form, since ONNX has no SVD) reproduce PyTorch within
1e-4 at any batch size, in every mode, through the same animator and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import fomm
from fomm.animation.animator import animate
from fomm.cli import main
from fomm.export import load_onnx_backend
from fomm.export.mraa import MRAAOnnxBackend
from fomm.families import backend_for

ATOL = 1e-4


@pytest.fixture(scope="module")
def exported(golden, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "mraa-onnx"
    assert main(["export", str(golden / "mraa-tiny.pth.tar"), "--format", "onnx", "-o", str(out), "--size", "128"]) == 0
    return out


@pytest.fixture(scope="module")
def torch_backend(golden):
    return backend_for(fomm.load_model(golden / "mraa-tiny.pth.tar", device="cpu"), channels_last=False)


def test_the_export_names_its_family_and_graphs(exported):
    metadata = json.loads((exported / "fomm-onnx.json").read_text())
    assert metadata["family"] == "mraa" and metadata["size"] == 128 and metadata["num_kp"] == 4
    assert sorted(metadata["graphs"]) == ["avd", "decode", "keypoints", "source"]


@pytest.mark.parametrize("batch", [1, 3])
def test_graphs_match_pytorch(exported, torch_backend, golden, batch):
    backend = load_onnx_backend(exported, threads=1)
    assert isinstance(backend, MRAAOnnxBackend) and backend.modes == ("avd", "relative", "absolute")
    io = np.load(golden / "mraa-tiny-io.npz")
    source, driving = torch.from_numpy(io["source"][:1]), torch.from_numpy(io["driving"][:batch])
    with torch.no_grad():
        kp_source, kp_driving = (torch_backend.keypoints(x) for x in (source, driving))
        ours = backend.keypoints(driving)
        for field in ("shift", "affine", "covar"):
            torch.testing.assert_close(getattr(ours, field), getattr(kp_driving, field), atol=ATOL, rtol=0)
        kp_avd = torch_backend.normalize(kp_source, kp_driving, None, mode="avd", adapt_scale=True)
        onnx_avd = backend.normalize(kp_source, kp_driving, None, mode="avd", adapt_scale=True)
        for field in ("shift", "affine", "covar"):
            torch.testing.assert_close(getattr(onnx_avd, field), getattr(kp_avd, field), atol=ATOL, rtol=0)
        kp_relative = torch_backend.normalize(kp_source, kp_driving, kp_driving[:1], mode="relative", adapt_scale=True)
        for kp in (kp_driving, kp_relative):  # AVD's random affines amplify rounding: see test_mraa_golden.py
            predictions = [b.decode(b.encode_source(source), source, kp, kp_source) for b in (backend, torch_backend)]
            torch.testing.assert_close(predictions[0], predictions[1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("mode", ["relative", "absolute", "avd"])
def test_animator_with_onnxruntime_reproduces_the_demo(exported, golden, mode):
    io = np.load(golden / "mraa-tiny-io.npz")
    source, driving = torch.from_numpy(io["source"][0]), list(torch.from_numpy(io["driving"]))
    out = torch.stack(list(animate(load_onnx_backend(exported, threads=1), source, driving, size=128,
                                   output="tensor", batch_size=2, mode=mode)))
    demo = torch.from_numpy(io[{"absolute": "demo_standard"}.get(mode, f"demo_{mode}")])
    torch.testing.assert_close(out.float(), demo, atol=1e-3 if mode == "avd" else ATOL, rtol=0)
