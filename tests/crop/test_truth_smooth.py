"""Temporal smoothing against values worked out by hand (issue 30): the One Euro filter's first steps
from the paper's formulas (Casiez et al. 2012: alpha = 1 / (1 + tau), tau = 1 / (2 pi f_c), f_c = f_min +
beta |dx|), the ends of a sequence held, jitter and lag of trajectories drawn on paper, and the exact
refusals of ``--smooth``. Fast unit tests for the crop package's mutation run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fomm.crop.box import CropError
from fomm.crop.smooth import (
    AUTO_STRENGTH,
    MotionFilter,
    OneEuro,
    Smoothing,
    causal,
    jitter,
    parse_smooth,
    smooth_motion,
    step_lag,
    zero_phase,
)
from fomm.models import Keypoints


def test_one_euro_follows_a_step_as_the_paper_says():
    # strength 1 frame: f_min = 1 / (2 pi), so tau = 1 and alpha = 1/2 with beta 0; the speed's filter
    # (f_d = 1 / (2 pi)) has alpha 1/2 too. Step 0 -> 10: speed 5, then 0.5 * 5 + 0.5 * 5 = 5
    steady = OneEuro(1.0, beta=0.0)
    assert [float(steady(np.array(v))) for v in (0.0, 10.0, 10.0)] == [0.0, 5.0, 7.5]
    # beta 2 per 10 px: f_c = 1 / (2 pi) + 0.2 * 5, so tau = 1 / (1 + 2 pi) and alpha = (1 + 2 pi) / (2 + 2 pi)
    fast = OneEuro(Smoothing(1.0), beta=2.0, scale=10.0)
    fast(np.array(0.0))
    assert float(fast(np.array(10.0))) == pytest.approx(10 * (1 + 2 * math.pi) / (2 + 2 * math.pi))
    # strength 3: alpha = 1 / (1 + 3) for a still signal
    assert float(OneEuro(3.0, beta=0.0)(np.array(0.0))) == 0.0
    slow = OneEuro(3.0, beta=0.0)
    slow(np.array(0.0))
    assert float(slow(np.array(8.0))) == pytest.approx(2.0)


def test_one_euro_returns_copies_and_forgets_on_reset():
    live = OneEuro(1.0, beta=0.0)
    first = np.array([4.0, 8.0])
    out = live(first)
    out[0] = -1
    assert live.previous.tolist() == [4.0, 8.0]  # the caller's change does not reach the filter
    live.reset()
    assert live.previous is None and live.speed is None
    assert live(np.array([0.0, 0.0])).tolist() == [0.0, 0.0]  # starts afresh, not pulled toward 4, 8


def test_strength_zero_passes_every_value_through():
    off = OneEuro(0.0)
    assert [float(off(np.array(v))) for v in (0.0, 10.0, -3.0)] == [0.0, 10.0, -3.0]
    assert causal(np.array([[1.0], [5.0], [2.0]]), Smoothing(0.0)).tolist() == [[1.0], [5.0], [2.0]]


def test_zero_phase_holds_the_ends_and_copies_what_it_does_not_smooth():
    constant = np.full((6, 2), 7.0)
    np.testing.assert_allclose(zero_phase(constant, 2.0), constant)  # ends not pulled toward zero
    one = np.array([[3.0, 4.0]])
    for values, smoothing in ((one, 2.0), (constant, 0.0), (constant, Smoothing(0.0))):
        out = zero_phase(values, smoothing)
        assert np.array_equal(out, values) and out is not values
    spike = np.zeros(21)
    spike[10] = 1.0
    smoothed = zero_phase(spike, Smoothing(2.0))
    assert smoothed[10] == pytest.approx(1 / (2 * math.sqrt(2 * math.pi)), rel=0.01)  # a Gaussian of sd 2's peak
    assert smoothed[8] == pytest.approx(smoothed[12]) and smoothed.argmax() == 10  # symmetric: no delay


def test_jitter_of_trajectories_drawn_on_paper():
    line = np.stack([np.arange(6.0), 2 * np.arange(6.0)], axis=1)
    assert jitter(line, 10.0) == 0.0  # a steady motion does not shake
    zigzag = np.array([[0, 0], [1, 0], [0, 0], [1, 0], [0, 0]], float)  # second differences -2, 2, -2 in x
    assert jitter(zigzag, 4.0) == 0.5
    assert jitter(zigzag, np.array([1.0, 2.0, 4.0, 8.0, 16.0])) == 0.5  # 2/2, 2/4, 2/8 per inner frame
    keypoints = np.repeat(zigzag[:, None], 3, axis=1)  # (T, K, 2)
    assert jitter(keypoints, np.array([1.0, 2.0, 4.0, 8.0, 16.0])) == 0.5


@pytest.mark.parametrize(("smoothed", "start", "low", "high", "lag"), [
    ([0, 0, 0.2, 0.4, 0.6, 1], 2, 0, 1, 2),
    ([0, 0.5], 0, 0, 1, 1),  # half-way counts
    ([1, 1, 0.8, 0.6, 0.4], 2, 1, 0, 2),  # a falling step
    ([1, 0.5], 0, 1, 0, 1),
    ([0, 0, 0.1], 1, 0, 1, 2),  # never past half-way: the frames left
])
def test_step_lag_counts_frames_to_half_way(smoothed, start, low, high, lag):
    assert step_lag(np.array(smoothed, float), start, low, high) == lag


def test_smoothing_strengths_and_their_refusals():
    assert Smoothing().strength == AUTO_STRENGTH == 2.0 and Smoothing(0.0).enabled is False
    assert Smoothing(0.01).enabled is True
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(CropError) as caught:
            Smoothing(bad)
        assert str(caught.value) == f"smoothing strength must be a number of frames >= 0, got {bad}"
    assert parse_smooth(" Auto ") == Smoothing(2.0) and parse_smooth(None, default="off") == Smoothing(0.0)
    assert parse_smooth(3) == Smoothing(3.0) and parse_smooth(2.5) == Smoothing(2.5) and parse_smooth("4") == \
        Smoothing(4.0)
    for bad, shown in (("strong", "'strong'"), (0, "0"), (-1.5, "-1.5"), ("", "''")):
        with pytest.raises(CropError) as caught:
            parse_smooth(bad)
        assert str(caught.value) == f"--smooth must be off, auto or a strength in frames > 0 (e.g. 2), got {shown}"


def test_a_models_motion_is_smoothed_over_frames_field_by_field():
    value = torch.zeros(21, 2, 2, dtype=torch.float64)
    value[10, 0, 0] = 1.0  # one keypoint's x spikes in one frame
    jacobian = torch.eye(2).repeat(21, 2, 1, 1)
    smoothed = smooth_motion(Keypoints(value, jacobian), 2.0)
    assert smoothed.value.dtype == torch.float64 and smoothed.value.shape == value.shape
    assert float(smoothed.value[10, 0, 0]) == pytest.approx(1 / (2 * math.sqrt(2 * math.pi)), rel=0.01)
    assert float(smoothed.value[:, 1].abs().max()) == 0.0 and float(smoothed.value[:, 0, 1].abs().max()) == 0.0
    torch.testing.assert_close(smoothed.jacobian, jacobian)  # a constant stays
    assert smooth_motion(Keypoints(value), 2.0).jacobian is None


def test_a_live_motion_filter_smooths_each_field_and_forgets_on_reset():
    live = MotionFilter(1.0, beta=0.0)
    frame = lambda v: Keypoints(torch.full((1, 1, 2), v), torch.full((1, 1, 2, 2), v))  # noqa: E731
    assert float(live(frame(0.0)).value[0, 0, 0]) == 0.0
    out = live(frame(10.0))
    assert float(out.value[0, 0, 0]) == 5.0 and float(out.jacobian[0, 0, 1, 1]) == 5.0  # alpha 1/2, as above
    assert out.value.dtype == torch.float32
    live.reset()
    assert live.filters == {} and live.previous is None
    assert float(live(frame(10.0)).value[0, 0, 0]) == 10.0
