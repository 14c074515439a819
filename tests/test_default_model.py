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

# Training used `fomm synth --seed 0`; these held-out videos come from a seed never trained on.
HELD_OUT_SEED = 424242


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("held-out") / "synthetic"
    make_synthetic_dataset(root, num_videos=16, num_frames=32, size=64, seed=HELD_OUT_SEED, test_fraction=1.0)
    return root


def test_bundled_model_loads_with_its_config():
    model = fomm.load_model(device="cpu")
    assert model.config.frame_size == 64
    assert "default" in fomm.available_models()
    assert not model.training


def test_bundled_model_beats_repeating_the_first_frame(held_out):
    torch.manual_seed(0)
    model = fomm.load_model(device="cpu")
    result = reconstruct(model, held_out, split="test", batch_size=32)
    assert len(result.videos) == 16
    # Reconstruction L1 at most 0.8 of "repeat the first frame"...
    assert result.model.l1 <= 0.8 * result.baseline.l1, result.table()
    # ...and the colored parts land where they should: position error at most half the baseline's.
    assert result.baseline.akd > 5.0  # the parts really move
    assert result.model.akd <= 0.5 * result.baseline.akd, result.table()


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
