"""Temporal smoothing: on a head-like motion with detector noise, both smoothers at least halve the
jitter at a lag of at most 2 frames; ``--smooth`` values are checked in one line."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop import CropError
from fomm.crop.smooth import AUTO_STRENGTH, OneEuro, Smoothing, causal, jitter, parse_smooth, step_lag, zero_phase

SIZE = 100.0  # the face's size in pixels


def sway(frames: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A head's sway (two periods mixed, a third of the face wide) and the same with detector noise."""
    t = np.arange(frames)
    truth = np.stack([300 + 30 * np.sin(2 * np.pi * t / 90) + 15 * np.sin(2 * np.pi * t / 37),
                      200 + 10 * np.sin(2 * np.pi * t / 60)], axis=1)
    return truth, truth + np.random.default_rng(seed).normal(0, 0.02 * SIZE, truth.shape)


def lag(smooth, seed: int) -> int:
    rng = np.random.default_rng(seed)
    step = np.r_[np.zeros(40), np.full(40, 0.25 * SIZE)] + rng.normal(0, 0.02 * SIZE, 80)
    return step_lag(smooth(step[:, None])[:, 0], 40, 0.0, 0.25 * SIZE)


@pytest.mark.parametrize("name", ["zero-phase", "one-euro"])
def test_jitter_at_least_halved_at_a_lag_of_at_most_two_frames(name):
    smooth = {"zero-phase": lambda v: zero_phase(v, AUTO_STRENGTH),
              "one-euro": lambda v: causal(v, AUTO_STRENGTH, scale=SIZE)}[name]
    truth, noisy = sway()
    assert jitter(smooth(noisy), SIZE) <= 0.5 * jitter(noisy, SIZE)
    assert np.abs(smooth(noisy) - truth).mean() < np.abs(noisy - truth).mean()  # closer to the true motion
    assert max(lag(smooth, seed) for seed in range(10)) <= 2


def test_zero_phase_keeps_a_steady_motion_and_a_steps_place():
    ramp = np.arange(50, dtype=float)[:, None] * np.array([2.0, -1.0])
    assert np.allclose(zero_phase(ramp, 2)[10:-10], ramp[10:-10])  # away from the held ends
    step = np.r_[np.zeros(20), np.ones(20)]
    assert step_lag(zero_phase(step, 3), 20, 0, 1) == 0


def test_keypoints_and_jacobians_are_smoothed_along_time_only():
    rng = np.random.default_rng(1)
    jacobians = np.eye(2) + rng.normal(0, 0.05, (30, 10, 2, 2))
    smoothed = zero_phase(jacobians, 2)
    assert smoothed.shape == jacobians.shape
    assert np.allclose(zero_phase(jacobians[:, :1], 2), smoothed[:, :1])  # keypoints do not mix
    assert np.std(np.diff(smoothed, axis=0)) < 0.5 * np.std(np.diff(jacobians, axis=0))
    live = OneEuro(2, scale=1.0)
    first = live(jacobians[0])
    assert np.array_equal(first, jacobians[0]) and live(jacobians[1]).shape == (10, 2, 2)
    live.reset()
    assert np.array_equal(live(jacobians[5]), jacobians[5])


def test_off_changes_nothing():
    _, noisy = sway(30)
    assert np.array_equal(zero_phase(noisy, parse_smooth("off")), noisy)
    assert np.array_equal(causal(noisy, parse_smooth("off")), noisy)


def test_smooth_values_are_parsed_and_bad_ones_refused():
    assert parse_smooth("auto") == Smoothing(AUTO_STRENGTH) and parse_smooth(None) == Smoothing(AUTO_STRENGTH)
    assert parse_smooth("3.5").strength == 3.5 and not parse_smooth("OFF").enabled
    for bad in ("strong", "-1", "0", "nan", "inf"):
        with pytest.raises(CropError, match=r"^--smooth must be off, auto or a strength in frames > 0 \(e\.g\. 2\)"):
            parse_smooth(bad)
