"""The bundled default model and ``fomm demo``: it works out of the box and it learned motion."""

from __future__ import annotations

import pytest
import torch

import fomm
from fomm.cli import main
from fomm.cli.demo import asset
from fomm.data.synthetic import make_synthetic_dataset
from fomm.evaluation.reconstruct import reconstruct
from fomm.io import VideoReader, probe_video

# Training used `fomm synth --seed 0 --limb-swing 2` (docs/training.md); these held-out videos come from a seed
# never trained on, with the same settings. Short videos keep the test fast.
HELD_OUT_SEED = 424242
LIMB_SWING = 2.0


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("held-out") / "synthetic"
    make_synthetic_dataset(root, num_videos=12, num_frames=20, size=64, seed=HELD_OUT_SEED, test_fraction=1.0,
                           limb_swing=LIMB_SWING)
    return root


@pytest.fixture(scope="module")
def result(held_out):
    torch.manual_seed(0)
    return reconstruct(fomm.load_model(device="cpu"), held_out, split="test", batch_size=32)


def test_bundled_model_loads_with_its_config():
    model = fomm.load_model(device="cpu")
    assert model.config.frame_size == 64
    assert "default" in fomm.available_models()
    assert not model.training


def test_bundled_model_keypoints_sit_on_every_part(result):
    """Issue 11: every part has a keypoint within 6 px (64x64 frames) on at least 90% of the frames."""
    kp = result.keypoints
    assert kp.hit_px == 6.0 and len(kp.part_hits) == 5 and kp.num_frames == 12 * 20
    assert min(kp.part_hits) >= 0.9, kp.summary()
    assert not kp.collapsed and result.keypoint_warning() is None, kp.summary()


def test_bundled_model_moves_the_parts_where_they_should_go(result):
    """Motion transfer on the held-out videos, against "repeat the first frame".

    Issue 11's bars: AKD <= 0.2x and L1 <= 0.5x the baseline, MKR <= 0.15. The shipped model reaches
    0.198x, 0.471x and 0.065 on these videos (docs/training.md); the model before it (16 epochs instead of 19)
    fails AKD (0.238x), and every earlier one fails AKD and most fail L1 or MKR too (0.246x / 0.526x /
    0.114; MKR 0.415 with collapsed keypoints).
    """
    assert len(result.videos) == 12
    assert result.baseline.akd > 5.0  # the parts really move
    assert result.model.mkr <= 0.15, result.table()
    assert result.model.l1 <= 0.5 * result.baseline.l1, result.table()
    assert result.model.akd <= 0.2 * result.baseline.akd, result.table()


def test_demo_end_to_end(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    video = tmp_path / "demo.mp4"
    info = probe_video(video)
    driving = probe_video(asset("driving.mp4"))
    assert info.num_frames == driving.num_frames == 100
    assert info.fps == pytest.approx(driving.fps)
    assert info.size == (3 * 64 * 4, 64 * 4)  # source | driving | result, enlarged 4x
    with VideoReader(video) as reader:
        frames = sum(1 for _ in reader)
    assert frames == 100
    assert (tmp_path / "demo-keypoints.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "100 frames in" in out and "demo.mp4" in out
    # A second run refuses to overwrite without being asked.
    assert main(["demo", "-o", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
