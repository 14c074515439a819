"""MRAA checkpoints through the commands: ``fomm reconstruct`` (with background motion) and
``fomm keypoints`` (region shifts and affines), on the golden checkpoint and frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import fomm
from fomm.cli import main
from fomm.io import read_image, to_uint8

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(golden, tmp_path_factory):
    """A test split holding one clip: source 0 then the three driving frames, as PNGs."""
    root = tmp_path_factory.mktemp("mraa-data")
    folder = root / "test" / "clip"
    folder.mkdir(parents=True)
    io = np.load(golden / "mraa-tiny-io.npz")
    frames = to_uint8(torch.from_numpy(np.concatenate([io["source"][:1], io["driving"]])))
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:04d}.png")
    return root, folder


def test_reconstruct_scores_the_reconstruction_with_background_motion(golden, clip, tmp_path):
    root, folder = clip
    argv = ["reconstruct", "--checkpoint", str(golden / "mraa-tiny.pth.tar"), "--config",
            str(golden / "mraa-tiny.yaml"), "--data", str(root), "--out", str(tmp_path / "rec"), "--device", "cpu",
            "--precision", "fp32"]
    assert main(argv) == 0
    l1 = json.loads((tmp_path / "rec" / "metrics.json").read_text())["model"]["l1"]

    model = fomm.load_model(golden / "mraa-tiny.pth.tar", config=golden / "mraa-tiny.yaml", device="cpu")
    real = torch.stack([torch.from_numpy(read_image(p)).permute(2, 0, 1).float() / 255
                        for p in sorted(folder.iterdir())])
    with torch.no_grad():
        source = real[:1]
        features, regions = model.generator.encode_source(source), model.detect_motion(source)
        with_bg = model.reconstruction_step(features, source, regions, real)[0]
        without = model.generator.decode(features, source, model.detect_motion(real), regions).prediction
    assert l1 == pytest.approx(float((with_bg - real).abs().mean()), abs=1e-5)
    assert abs(l1 - float((without - real).abs().mean())) > 1e-4  # 4e-4: ten times the bound above


def test_keypoints_writes_region_shifts_and_affines(golden, clip, tmp_path):
    _, folder = clip
    out = tmp_path / "regions.json"
    argv = ["keypoints", str(folder), "-o", str(out), "--checkpoint", str(golden / "mraa-tiny.pth.tar"),
            "--size", "128", "--device", "cpu"]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["num_kp"] == 4 and len(data["frames"]) == 4
    io = np.load(golden / "mraa-tiny-io.npz")
    # Frame 1 is driving frame 0 (PNG-rounded): its regions are the golden ones to within that rounding.
    affines = np.array(data["frames"][1]["affines"])
    np.testing.assert_allclose(affines, io["rp_driving_affine"][0], atol=0.02)
    pixels = np.array(data["frames"][1]["keypoints"])
    np.testing.assert_allclose(pixels, (io["rp_driving_shift"][0] + 1) / 2 * 127, atol=0.5)
