"""Smoothing MRAA's regions over time (--smooth, fomm live): the SVD's sign flips of an affine between
frames are not averaged into a near-zero matrix, and each frame keeps LAPACK's sign (AVD reads it)."""

from __future__ import annotations

import math

import torch

from fomm.crop.smooth import MotionFilter, smooth_motion
from fomm.models.mraa import Regions


def _turning_region(frames: int = 12, flip_at: int = 6) -> Regions:
    """One region turning slowly whose affine comes back negated from frame ``flip_at`` on, as LAPACK's
    signs do past some angle."""
    affines = []
    for t in range(frames):
        angle = 0.02 * t
        rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        affine = rotation @ torch.diag(torch.tensor([0.3, 0.1]))
        affines.append(-affine if t >= flip_at else affine)
    affine = torch.stack(affines)[:, None]  # (T, 1, 2, 2)
    shift = torch.zeros(frames, 1, 2)
    return Regions(shift, affine, affine @ affine.transpose(-1, -2))


def _check(smoothed: Regions, regions: Regions) -> None:
    # Each frame's smoothed affine is close to its own (same sign, same size), none averaged away.
    assert (smoothed.affine - regions.affine).abs().max() < 0.05
    assert torch.linalg.det(smoothed.affine[:, 0]).abs().min() > 0.8 * 0.03


def test_smooth_motion_keeps_each_frames_sign():
    regions = _turning_region()
    _check(smooth_motion(regions, 3.0), regions)


def test_live_filter_keeps_each_frames_sign():
    regions, live = _turning_region(), MotionFilter(3.0)
    _check(Regions.cat([live(regions[t : t + 1]) for t in range(len(regions))]), regions)


def test_aligned_signs_are_continuous_and_undone():
    regions = _turning_region()
    aligned, restore = regions.sign_aligned()
    assert ((aligned.affine[1:] * aligned.affine[:-1]).sum(dim=(-1, -2)) > 0).all()
    torch.testing.assert_close(restore(aligned).affine, regions.affine, atol=0, rtol=0)
