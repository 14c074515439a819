"""Reconstruction of a TPSMM model goes through its backend and uses the background motion, as the TPSMM
paper evaluates (reconstruction.py passes bg_predictor's affine to the dense motion network)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import fomm
from fomm.data.datasets import FramesDataset
from fomm.evaluation.reconstruct import reconstruct

S = 128


@pytest.fixture(scope="module")
def model(golden):
    path = golden / "tpsmm-tiny.pth.tar"
    if not path.exists():
        pytest.fail(f"golden fixture {path} is missing", pytrace=False)
    return fomm.load_model(path, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("recon-tpsmm")
    rng = np.random.default_rng(0)
    folder = root / "test" / "a"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (S, S, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return root


def test_scores_equal_the_original_reconstruction_loop(model, data):
    result = reconstruct(model, data, batch_size=2, frame_shape=(S, S, 3))
    (video,) = result.videos
    real = FramesDataset(data, (S, S, 3), is_train=False).video(0).to_tensor().permute(1, 0, 2, 3)
    with torch.no_grad():
        source = real[:1].expand_as(real)
        kp_source, kp_driving = model.kp_detector(real[:1]), model.kp_detector(real)
        kp_source = type(kp_source)(kp_source.value.expand_as(kp_driving.value))

        def l1(bg_param):
            motion = model.dense_motion_network(source, kp_driving, kp_source, bg_param)
            return float((model.inpainting_network(source, motion).prediction - real).abs().mean())

        with_bg, without_bg = l1(model.bg_predictor(source, real)), l1(None)
    assert abs(with_bg - without_bg) > 1e-4  # the background motion matters on these frames
    assert video.model.l1 == pytest.approx(with_bg, abs=1e-5)
    assert video.keypoints.num_kp == 15 and video.keypoints.heatmap_spread is None  # regressed, no heatmaps
