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
from fomm.models.mraa.regions import Regions


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
    growing = np.array([[0, 0], [1, 0], [0, 0], [3, 0], [0, 0]], float)  # second differences 2, 4, 6
    sizes = np.array([9.0, 4.0, 1.0, 2.0, 9.0])  # the inner frames' own: 2/4, 4/1, 6/2, median 3
    assert jitter(growing, sizes) == 3.0  # (each over every frame's size would give 2)
    assert jitter(np.repeat(growing[:, None], 2, axis=1), sizes) == 3.0


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


def _gaussian_by_hand(values: np.ndarray, sd: float) -> np.ndarray:
    """A Gaussian of ``sd`` frames (cut at 4 sd) over time, the ends held: the first and last values
    repeated beyond the sequence, written out from the definition."""
    radius = int(4 * sd + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-(x**2) / (2 * sd**2))
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(values[:1], radius, axis=0), values, np.repeat(values[-1:], radius, axis=0)])
    return np.stack([np.tensordot(kernel, padded[t : t + 2 * radius + 1], axes=1) for t in range(len(values))])


@pytest.mark.parametrize("sd", [0.5, 1.0, 2.0])
def test_zero_phase_is_a_gaussian_with_the_ends_held(sd):
    ramp = np.stack([np.arange(12.0) ** 2, 3 - np.arange(12.0)], axis=1)  # curved and straight, the ends unlike
    np.testing.assert_allclose(zero_phase(ramp, sd), _gaussian_by_hand(ramp, sd), atol=1e-9)
    pair = np.array([0.0, 10.0])  # two frames are smoothed too
    np.testing.assert_allclose(zero_phase(pair, sd), _gaussian_by_hand(pair, sd), atol=1e-9)
    spike = np.zeros(9, np.uint8)
    spike[4] = 200  # whole numbers in, fractions out
    smoothed = zero_phase(spike, sd)
    assert smoothed.dtype == np.float64
    np.testing.assert_allclose(smoothed, _gaussian_by_hand(spike.astype(float), sd), atol=1e-9)


def test_one_euro_defaults_are_the_documented_ones():
    # strength 2 (auto), beta 2 per unit of scale 1: step 0 -> 10 gives speed 5, f_c = 1 / (4 pi) + 2 * 5,
    # tau = 1 / (2 pi f_c) = 1 / (1/2 + 20 pi)
    live = OneEuro()
    live(np.array(0.0))
    assert float(live(np.array(10.0))) == pytest.approx(10 * (0.5 + 20 * math.pi) / (1.5 + 20 * math.pi))


def test_one_euro_works_in_float64_whatever_comes_in():
    live = OneEuro(1.0, beta=0.0)
    first = live(np.array([3, 250], np.uint8))
    assert first.dtype == np.float64 and first.tolist() == [3.0, 250.0]
    second = live(np.array([5, 10], np.uint8))  # alpha 1/2: half-way, no uint8 wrap-around
    assert second.dtype == np.float64 and second.tolist() == [4.0, 130.0]
    fast = OneEuro(1.0, beta=2.0, scale=10.0)  # the speed, too, without wrap-around: 10 - 250 is -240
    fast(np.array([250], np.uint8))
    f_c = 1 / (2 * math.pi) + 0.2 * 120  # speed |0.5 * -240|
    alpha = 1 / (1 + 1 / (2 * math.pi * f_c))
    assert float(fast(np.array([10], np.uint8))[0]) == pytest.approx(alpha * 10 + (1 - alpha) * 250)


def test_jitter_measures_each_keypoint_against_its_frames_size():
    zigzag = np.array([0, 1, 0, 1, 0], float)
    keypoints = np.zeros((5, 2, 2))
    keypoints[:, 0, 0], keypoints[:, 1, 0] = zigzag, 3 * zigzag  # second differences 2 and 6 per frame
    sizes = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    # per inner frame (sizes 2, 4, 8): 1, 0.5, 0.25 and 3, 1.5, 0.75; the median of the six
    assert jitter(keypoints, sizes) == pytest.approx(0.875)
    wrapped = np.stack([zigzag, 0 * zigzag], axis=1).astype(np.uint8)  # 0 - 1 in uint8 would be 255
    assert jitter(wrapped, 4.0) == 0.5


def test_step_lag_starts_counting_at_the_step():
    assert step_lag(np.array([1.0, 1.0, 0.0, 0.0, 1.0]), 2, 0.0, 1.0) == 2  # past half-way before the step: not counted


def test_parse_smooth_takes_strengths_below_one_frame():
    assert parse_smooth(0.5) == Smoothing(0.5) and parse_smooth("0.25") == Smoothing(0.25)


def _flipping_regions(frames: int) -> tuple[Regions, torch.Tensor, torch.Tensor]:
    """MRAA regions whose affine is one matrix A for every frame, its sign flipped every other frame (as
    an SVD flips it); the shift has a spike in the middle frame. Returns the regions, A and the signs."""
    a = torch.tensor([[1.0, 0.2], [0.0, 0.8]])
    signs = torch.tensor([1.0 if t % 2 == 0 else -1.0 for t in range(frames)])
    shift = torch.zeros(frames, 1, 2)
    shift[frames // 2, 0, 0] = 1.0
    covar = torch.eye(2).repeat(frames, 1, 1, 1)
    return Regions(shift, a.repeat(frames, 1, 1, 1) * signs[:, None, None, None], covar), a, signs


def test_smoothing_mraa_regions_keeps_affines_whose_sign_flips():
    regions, a, signs = _flipping_regions(21)
    smoothed = smooth_motion(regions, 2.0)
    # the same motion every frame: smoothed, each frame keeps A with its own sign (averaging A and -A gives 0)
    torch.testing.assert_close(smoothed.affine, a.repeat(21, 1, 1, 1) * signs[:, None, None, None])
    assert float(smoothed.shift[10, 0, 0]) == pytest.approx(1 / (2 * math.sqrt(2 * math.pi)), rel=0.01)


def test_a_live_filter_aligns_each_frames_affine_with_the_frame_before():
    regions, a, signs = _flipping_regions(3)
    live = MotionFilter(1.0, beta=0.0)
    outputs = [live(Regions(regions.shift[t : t + 1], regions.affine[t : t + 1], regions.covar[t : t + 1]))
               for t in range(3)]
    for t, out in enumerate(outputs):  # A steady, given back with the frame's own sign (not averaged to 0)
        torch.testing.assert_close(out.affine[0, 0], a * signs[t])
