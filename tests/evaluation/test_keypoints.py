"""Keypoint diagnostics: spread, heatmap peakiness, part coverage, the collapse warning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fomm.data.synthetic import load_tracks, make_synthetic_dataset
from fomm.evaluation.keypoints import (
    KeypointStats,
    capture_heatmaps,
    diagnose_keypoints,
    heatmap_peakiness,
    keypoint_pixels,
    keypoint_spread,
    merge_stats,
    part_coverage,
    probe_set,
)
from fomm.models import KPDetector, make_coordinate_grid


def test_spread_of_stacked_and_of_separate_keypoints():
    stacked = torch.full((2, 4, 2), 10.0)
    assert keypoint_spread(stacked) == (0.0, 1.0)
    # a 3-4-5 triangle plus a point 1 px from its first corner
    kp = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [0.0, 4.0], [1.0, 0.0]]])
    distances = [math.dist(a, b) for i, a in enumerate(kp[0].tolist()) for b in kp[0].tolist()[i + 1:]]
    mean, near = keypoint_spread(kp, near_px=2.0)
    assert mean == pytest.approx(sum(distances) / len(distances))
    assert near == 0.5  # the first corner and the point beside it


def test_keypoint_pixels_map_the_edges_to_pixel_borders():
    value = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])
    assert keypoint_pixels(value, (64, 32)).tolist() == [[-0.5, -0.5], [31.5, 63.5], [15.5, 31.5]]


def test_heatmap_peakiness_of_a_delta_and_of_a_uniform_heatmap():
    delta = torch.zeros(1, 1, 8, 8)
    delta[0, 0, 3, 5] = 1
    assert heatmap_peakiness(delta, (64, 64)) == (0.0, 1.0)
    uniform = torch.full((1, 2, 8, 8), 1 / 64)
    spread, peak = heatmap_peakiness(uniform, (64, 64))
    # a uniform distribution over 8 cells 8 px apart: variance (n^2 - 1) / 12 cells^2 per axis
    assert spread == pytest.approx(math.sqrt(2 * (64 - 1) / 12) * 8)
    assert peak == pytest.approx(1 / 64)


def test_part_coverage_counts_visible_frames_only():
    kp = np.array([[[0.0, 0.0], [20.0, 0.0]], [[0.0, 0.0], [20.0, 0.0]]])  # (N=2, K=2, 2)
    positions = np.array([[[3.0, 4.0], [20.0, 10.0]], [[1.0, 0.0], [0.0, 40.0]]])  # (N, P=2, 2)
    visible = np.array([[True, True], [True, False]])
    means, hits = part_coverage(kp, positions, visible, hit_px=6.0)
    assert means == pytest.approx([3.0, 10.0])  # part 0: 5 and 1 px; part 1: 10 px (frame 1 hidden)
    assert hits == [1.0, 0.0]
    never = part_coverage(kp, positions, np.zeros_like(visible))
    assert all(math.isnan(v) for v in never[0] + never[1])


def test_warning_names_the_collapse_and_the_missed_parts():
    ok = KeypointStats(10, 5, 20.0, 0.1, part_names=("torso", "limb1"), part_distance=[1.0, 2.0],
                       part_hits=[1.0, 0.9])
    assert not ok.collapsed and ok.warning() is None
    bad = KeypointStats(10, 5, 1.0, 0.8, part_names=("torso", "limb1"), part_distance=[1.0, 12.0],
                        part_hits=[1.0, 0.1])
    assert bad.collapsed
    assert "collapsed" in bad.warning() and "limb1" in bad.warning() and "torso" not in bad.warning()
    scalars = bad.scalars()
    assert scalars["kp_part_hits_min"] == 0.1 and scalars["kp_hits_limb1"] == 0.1 and scalars["kp_near"] == 0.8


def test_merge_weights_by_frames():
    a = KeypointStats(10, 4, 10.0, 0.0, 2.0, 0.5, ("torso",), [1.0], [1.0])
    b = KeypointStats(30, 4, 20.0, 1.0, 4.0, 0.1, ("torso",), [5.0], [0.0])
    m = merge_stats([a, b])
    assert (m.num_frames, m.mean_distance, m.near_share, m.heatmap_spread) == (40, 17.5, 0.75, 3.5)
    assert m.part_distance == [4.0] and m.part_hits == [0.25]


@pytest.fixture(scope="module")
def detector():
    torch.manual_seed(0)
    return KPDetector(block_expansion=4, num_kp=3, num_channels=3, max_features=16, num_blocks=3,
                      temperature=0.1, estimate_jacobian=True, scale_factor=0.5)


def test_captured_heatmaps_are_the_ones_the_keypoints_come_from(detector):
    frames = torch.rand(2, 3, 32, 32)
    with torch.no_grad(), capture_heatmaps(detector) as heatmaps:
        kp = detector(frames)
    (heatmap,) = heatmaps
    grid = make_coordinate_grid(heatmap.shape[2:], heatmap.dtype)
    torch.testing.assert_close((heatmap.unsqueeze(-1) * grid).sum(dim=(2, 3)), kp.value)
    assert not detector.kp._forward_hooks  # removed on exit


def test_a_detector_with_constant_heatmaps_is_reported_collapsed(detector, tmp_path, caplog):
    root = tmp_path / "data"
    make_synthetic_dataset(root, num_videos=2, num_frames=4, size=32, test_fraction=0.5)
    probe = probe_set(root, "test", frames_per_video=3)
    tracks = load_tracks(root / "test" / "vid00001.tracks.json")
    assert probe.frames.shape == (3, 3, 32, 32) and probe.part_names == tracks.part_names
    np.testing.assert_array_equal(probe.positions, tracks.positions[[0, 2, 3]])  # evenly spaced, ends kept

    constant = KPDetector(block_expansion=4, num_kp=3, num_channels=3, max_features=16, num_blocks=3,
                          temperature=0.1, scale_factor=0.5)
    with torch.no_grad():
        constant.kp.weight.zero_()
        constant.kp.bias.zero_()  # uniform heatmaps: every keypoint at the centre
    constant.train()
    stats = diagnose_keypoints(constant, probe.frames, probe)
    assert constant.training  # mode restored
    assert stats.collapsed and stats.mean_distance == pytest.approx(0.0, abs=1e-4)
    centre = np.array([15.5, 15.5])
    expected = np.linalg.norm(probe.positions - centre, axis=-1)
    for p in range(len(tracks.part_names)):
        seen = probe.visible[:, p]
        assert stats.part_distance[p] == pytest.approx(expected[seen, p].mean(), abs=1e-3)
    assert "collapsed" in stats.warning()
    fine = diagnose_keypoints(detector, probe.frames)
    assert fine.part_hits == [] and fine.heatmap_peak > 0
