"""Cutting crops and pasting them back, against values worked out by hand from each function's contract:
whole-pixel squares, black outside the frame, averaging when shrinking, the fade of the feather, the
colour match's gain and its clipping, and the refusals word for word."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from fomm.crop.box import Box, CropError
from fomm.crop.image import (
    FEATHER,
    PasteBack,
    _spread,
    _turned_region,
    crop_square,
    face_feather,
    feather_mask,
    paste_back,
    seam_error,
    square_pixels,
    user_box,
)
from fomm.limits import LimitError


def _numbered(height: int, width: int) -> np.ndarray:
    """A frame whose every pixel says where it is: red = column, green = row, blue = 7."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = np.arange(width)[None, :]
    frame[..., 1] = np.arange(height)[:, None]
    frame[..., 2] = 7
    return frame


# --------------------------------------------------------------------------------------- boxes in pixels
def test_square_pixels_rounds_the_corner_and_the_longer_side_and_keeps_score_and_angle():
    assert square_pixels(Box(10.4, 20.6, 30.2, 29.7, 0.7, angle=5.0)) == Box(10, 21, 30, 30, 0.7, angle=5.0)
    assert square_pixels(Box(3, 4, 0.2, 0.3, 0.5)) == Box(3, 4, 1, 1, 0.5)  # never empty: at least 1 px


def test_user_box_grows_the_shorter_side_about_the_centre_and_keeps_the_score():
    assert user_box(Box(100, 40, 60, 50, 0.9), 800, 480) == Box(100, 35, 60, 60, 0.9)
    with pytest.raises(CropError) as error:
        user_box(Box(900, 40, 60, 50), 800, 480)
    assert str(error.value) == ("--crop box 900,40,60,50 is outside the 800x480 image; give X,Y,W,H with "
                                "0 <= X < 800 and 0 <= Y < 480")


def test_the_turned_region_holds_the_turned_square_with_two_pixels_to_spare():
    # 100 px turned by 30 degrees spans 100 (cos 30 + sin 30) = 136.6 px: ceil + 2 = 139, same centre.
    region = _turned_region(Box(200, 100, 100, 100, 0.6, angle=30))
    assert (region.w, region.h, region.score) == (139, 139, 0.6)
    assert region.center == pytest.approx((250, 150), abs=0.5)


# -------------------------------------------------------------------------------------------- crop_square
def test_a_crop_inside_the_frame_is_the_frames_pixels():
    frame = _numbered(40, 60)
    crop = crop_square(frame, Box(5, 7, 20, 20), 20)
    assert np.array_equal(crop, frame[7:27, 5:25])
    crop[:] = 0
    assert frame[7, 5, 2] == 7  # a copy, not a view


@pytest.mark.parametrize(("x", "y"), [(-4, 3), (3, -4), (50, 3), (3, 30), (0, 0)])
def test_what_lies_outside_the_frame_is_black_and_the_rest_in_place(x, y):
    frame = _numbered(40, 60)
    crop = crop_square(frame, Box(x, y, 14, 14), 14)
    for row in range(14):
        for col in range(14):
            fy, fx = y + row, x + col
            inside = 0 <= fy < 40 and 0 <= fx < 60
            expected = frame[fy, fx] if inside else (0, 0, 0)
            assert tuple(crop[row, col]) == tuple(expected), (row, col)


@pytest.mark.parametrize("box", [Box(-14, 3, 14, 14), Box(3, -14, 14, 14), Box(60, 3, 14, 14), Box(3, 40, 14, 14)])
def test_a_box_that_only_touches_the_frame_is_refused(box):
    with pytest.raises(CropError) as error:
        crop_square(_numbered(40, 60), box, 14)
    assert str(error.value) == f"crop box {box.describe()} is outside the 60x40 frame; give a box inside it"


@pytest.mark.parametrize("box", [Box(-13, 3, 14, 14), Box(3, -13, 14, 14), Box(59, 3, 14, 14), Box(3, 39, 14, 14)])
def test_a_box_with_one_row_or_column_inside_is_cut(box):
    crop = crop_square(_numbered(40, 60), box, 14)
    assert crop[..., 2].sum() == 14 * 7  # exactly one row or column of the frame's blue 7


def test_shrinking_averages_each_block_of_pixels():
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[::2, ::2] = 200  # one pixel in four: each 2x2 block averages to 50
    frame[1::2, 1::2] = 40  # and one more: 60
    assert np.array_equal(crop_square(frame, Box(0, 0, 8, 8), 4), np.full((4, 4, 3), 60, np.uint8))


def test_enlarging_interpolates_between_the_pixels():
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[:, 1] = 200
    crop = crop_square(frame, Box(0, 0, 2, 2), 8)
    row = crop[4, :, 0].astype(int)
    assert row[0] <= 5 and row[-1] >= 195  # the two columns' own values at the ends
    assert all(b >= a for a, b in zip(row, row[1:], strict=False)) and len(set(row[2:6])) == 4  # a ramp between


def test_a_crop_too_large_to_allocate_names_the_square_and_the_limit():
    with pytest.raises(LimitError) as error:
        crop_square(_numbered(40, 60), Box(0, 0, 20000, 20000), 64)
    assert str(error.value).startswith("the crop square 0,0,20000,20000 (20000x20000): 400,000,000 pixels is over")


def test_a_turned_crop_of_a_plain_frame_is_plain_to_its_corners():
    """The upright region is cut two pixels wider than the turned square, so turning never reaches
    past it: a white frame gives white to the last pixel, with no black or grey edge."""
    frame = np.full((300, 400, 3), 255, np.uint8)
    for angle in (30, -45, 10):
        assert crop_square(frame, Box(150, 100, 100, 100, angle=angle), 64).min() == 255, angle


# ------------------------------------------------------------------------------------------------ feather
def test_the_feather_fades_by_smoothstep_over_its_width_in_float32():
    mask = feather_mask(20, 0.25)  # a 5 px ramp: pixel centres 0.5, 1.5, ... from the edge
    edge = [3 * t * t - 2 * t ** 3 for t in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert mask.dtype == np.float32
    np.testing.assert_allclose(mask[10, :5], edge, atol=1e-6)
    np.testing.assert_allclose(mask[10, 15:], edge[::-1], atol=1e-6)
    np.testing.assert_allclose(mask[0, 0], edge[0] ** 2, atol=1e-6)
    assert (mask[5:15, 5:15] == 1).all()


def test_a_one_pixel_feather_is_still_a_fade():
    mask = feather_mask(20, 0.05)  # width 1 px: the outer pixels at half
    assert mask.dtype == np.float32 and mask[10, 0] == pytest.approx(0.5) and mask[10, 1] == 1


def test_no_feather_is_a_hard_edge_computed_without_dividing_by_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = feather_mask(6, 0.0)
    assert mask.dtype == np.float32 and (mask == 1).all()


def test_the_face_feather_fades_in_the_margin_around_the_face_within_its_bounds():
    assert face_feather(100, Box(0, 0, 50, 40)) == pytest.approx(0.2)  # (100 - 1.2 * 50) / 2 / 100
    assert face_feather(100, Box(0, 0, 95, 95)) == pytest.approx(0.04)  # face fills the crop: the least
    assert face_feather(100, Box(0, 0, 5, 5)) == pytest.approx(0.3)  # a tiny face: the most


# ------------------------------------------------------------------------------------- PasteBack's inputs
@pytest.mark.parametrize(("photo", "shown"), [(np.zeros((10, 10), np.uint8), "(10, 10)"),
                                              (np.zeros((10, 10, 3), np.float32), "(10, 10, 3)"),
                                              (np.zeros((10, 10, 4), np.uint8), "(10, 10, 4)"),
                                              ([[0, 0, 0]], "[[0, 0, 0]]")])
def test_paste_back_refuses_a_photo_that_is_not_uint8_rgb(photo, shown):
    with pytest.raises(CropError) as error:
        PasteBack(photo, Box(0, 0, 4, 4))
    assert str(error.value) == f"paste-back needs the photo as uint8 (H, W, 3), got {shown}"


@pytest.mark.parametrize("box", [Box(60, 5, 10, 10), Box(5, 40, 10, 10), Box(70, 5, 10, 10), Box(-10, 5, 10, 10)])
def test_paste_back_refuses_a_box_off_the_photo(box):
    with pytest.raises(CropError) as error:
        PasteBack(_numbered(40, 60), box)
    assert str(error.value) == f"paste-back box {box.describe()} is outside the 60x40 photo"


def test_colour_modes_and_feathers_as_documented():
    photo = _numbered(40, 60)
    assert PasteBack(photo, Box(5, 5, 20, 20), color=True).color == "field"
    assert PasteBack(photo, Box(5, 5, 20, 20), color=False).color == "off"
    assert PasteBack(photo, Box(5, 5, 20, 20), color="mean").color == "mean"
    with pytest.raises(CropError, match=r"^paste-back color must be one of field, mean, off, got 'on'$"):
        PasteBack(photo, Box(5, 5, 20, 20), color="on")
    assert PasteBack(photo, Box(5, 5, 20, 20)).feather == FEATHER == 0.12
    assert PasteBack(photo, Box(0, 0, 40, 40), face=Box(10, 10, 20, 15)).feather == pytest.approx(0.2)
    assert PasteBack(photo, Box(5, 5, 20, 20)).background.dtype == np.float32  # one float32 copy of the region


# ------------------------------------------------------------------------------------------ what it pastes
def test_a_hard_edged_paste_at_the_corner_replaces_exactly_the_box():
    photo = np.zeros((40, 60, 3), np.uint8)
    crop = np.full((20, 20, 3), 200, np.uint8)
    out = PasteBack(photo, Box(0, 0, 20, 20), feather=0, color="field")(crop)  # no band: nothing to match
    assert (out[:20, :20] == 200).all() and (out[20:] == 0).all() and (out[:, 20:] == 0).all()


def test_a_paste_past_the_photos_edge_keeps_the_part_inside():
    photo = np.zeros((40, 60, 3), np.uint8)
    crop = np.zeros((20, 20, 3), np.uint8)
    crop[:, :, 0] = np.arange(20)[None, :] * 10  # columns numbered
    out = PasteBack(photo, Box(-5, 30, 20, 20), feather=0, color="off")(crop)
    assert np.array_equal(out[30:40, 0:15, 0], np.tile(np.arange(5, 20) * 10, (10, 1)))
    assert (out[:30] == 0).all() and (out[:, 15:] == 0).all()


def test_a_small_crop_is_enlarged_by_interpolation_to_the_box():
    photo = np.zeros((40, 60, 3), np.uint8)
    crop = np.zeros((2, 2, 3), np.uint8)
    crop[:, 1] = 200
    row = PasteBack(photo, Box(10, 10, 16, 16), feather=0, color="off")(crop)[18, 10:26, 0].astype(int)
    assert row[0] <= 5 and row[-1] >= 195 and len(set(row[4:12])) >= 6  # a ramp, not two blocks


def test_the_paste_blends_into_the_given_base_and_leaves_it_unchanged():
    photo = np.zeros((40, 60, 3), np.uint8)
    base = np.full((40, 60, 3), 100, np.uint8)
    crop = np.full((20, 20, 3), 200, np.uint8)
    paste = PasteBack(photo, Box(10, 10, 20, 20), feather=0.25, color="off")
    out = paste(crop, base)
    alpha = feather_mask(20, 0.25)
    expected = np.floor(100 + alpha * 100 + 0.5)  # under + alpha (animated - under), rounded
    assert np.array_equal(out[10:30, 10:30, 0], expected.astype(np.uint8))
    assert (out[:10] == 100).all() and (out[30:] == 100).all()  # the base, not the photo, outside the box
    assert (base == 100).all()


def test_the_result_is_clipped_to_the_uint8_range_not_wrapped():
    photo = np.full((40, 60, 3), 255, np.uint8)
    crop = np.full((20, 20, 3), 240, np.uint8)
    crop[8:12, 8:12] = 250  # 10 above the band's 240: shifted by +15 and scaled, it would be 263
    out = PasteBack(photo, Box(10, 10, 20, 20), feather=0.25, color="mean")(crop)
    assert (out[18:22, 18:22] == 255).all()
    black = PasteBack(np.zeros((40, 60, 3), np.uint8), Box(10, 10, 20, 20), color="mean")
    assert (black(np.zeros((20, 20, 3), np.uint8)) == 0).all()


def _band(side: int, feather: float) -> np.ndarray:
    alpha = feather_mask(side, feather).astype(np.float64)
    band = alpha * (1 - alpha)
    return band / band.sum()


@pytest.mark.parametrize(("photo_step", "crop_step", "gain"), [(10, 20, 0.8), (22, 20, 1.1), (40, 20, 1.25)])
def test_mean_mode_shifts_to_the_bands_mean_and_scales_by_its_spread_within_bounds(photo_step, crop_step, gain):
    """Left half of the box one value, right half another, in the photo and in the crop: the band's
    weighted mean and spread are those of the two halves (the band is symmetric), so the crop's centre
    goes to photo mean + gain * (value - crop mean), gain = photo spread / crop spread in [0.8, 1.25]."""
    side = 20
    photo = np.full((40, 60, 3), 100, np.uint8)
    photo[10:30, 10:20] -= photo_step // 2
    photo[10:30, 20:30] += photo_step // 2
    crop = np.full((side, side, 3), 150, np.uint8)
    crop[:, :10] -= crop_step // 2
    crop[:, 10:] += crop_step // 2
    crop[9:11, 6:8] = 190  # a bright spot in the left half, inside the feather (alpha 1, no band weight)
    out = PasteBack(photo, Box(10, 10, side, side), feather=0.25, color="mean")(crop)
    band = _band(side, 0.25)
    assert band[:, :10].sum() == pytest.approx(0.5)
    expected = 100 + gain * (190 - 150)  # the spot, where the feather's alpha is 1
    assert (band[9:11, 6:8] == 0).all() and out[19, 16, 0] == math.floor(expected + 0.5)


def test_the_module_function_passes_its_options_through():
    photo = np.zeros((40, 60, 3), np.uint8)
    crop = np.full((20, 20, 3), 200, np.uint8)
    frames = list(paste_back([crop, crop], photo, Box(0, 0, 20, 20), feather=0, color="off"))
    assert len(frames) == 2 and all((f[:20, :20] == 200).all() for f in frames)  # hard edge: feather=0 reached


def test_mean_mode_takes_its_gain_from_spreads_under_one_level():
    """Halves one level apart in the photo and in the crop: both spreads are 0.5, so the gain is 1 (the
    1e-3 floor guards only a flat crop), and the spot keeps its height over the crop's mean."""
    photo = np.full((40, 60, 3), 100, np.uint8)
    photo[10:30, 20:30] = 101
    crop = np.full((20, 20, 3), 150, np.uint8)
    crop[:, 10:] = 151
    crop[9:11, 6:8] = 190
    out = PasteBack(photo, Box(10, 10, 20, 20), feather=0.25, color="mean")(crop)
    assert out[19, 16, 0] == math.floor(100.5 + (190 - 150.5) + 0.5)


def test_a_feather_a_fraction_of_a_pixel_wide_still_matches_the_colour():
    """A 0.55 px feather on an 8 px box: the edge pixels' weights are 0.977, so the band's total weight is
    about 0.7 - small, but not a hard edge, and the crop is still shifted to the photo's colour."""
    photo = np.full((20, 20, 3), 100, np.uint8)
    crop = np.full((8, 8, 3), 150, np.uint8)
    paste = PasteBack(photo, Box(6, 6, 8, 8), feather=0.55 / 8, color="mean")
    band = feather_mask(8, 0.55 / 8)
    assert 0 < (band * (1 - band)).sum() < 1 and paste.color == "mean"
    assert (paste(crop)[6:14, 6:14] == 100).all()


# ------------------------------------------------------------------------------------------- the field
def test_the_colour_field_is_the_measured_difference_near_each_measurement():
    """Measured +10 along the top rows and -10 along the bottom: the spread field holds each value where
    it was measured and passes through zero half-way, over the whole height of a square region."""
    band = np.zeros((64, 64), np.float32)
    band[:4], band[-4:] = 1, 1
    difference = np.zeros((64, 64, 3), np.float32)
    difference[:32], difference[32:] = 10, -10
    field = _spread(difference, band)
    assert field.shape == (64, 64, 3)
    assert field[0, 32] == pytest.approx([10, 10, 10], abs=0.05)
    assert field[-1, 32] == pytest.approx([-10, -10, -10], abs=0.05)
    assert abs(field[32, 32, 0]) < 1 and (np.diff(field[:, 32, 0]) <= 1e-4).all()  # falls steadily
    assert (difference[8:-8] == 0).all()  # weighted in place, as documented


def test_a_constant_difference_spreads_to_the_same_constant_everywhere():
    band = np.zeros((30, 50), np.float32)
    band[5, 7], band[20, 40] = 1, 0.25
    field = _spread(np.full((30, 50, 3), [3, -2, 7], np.float32), band)
    assert np.allclose(field, [3, -2, 7], atol=1e-4)


# ------------------------------------------------------------------------------------------- the seam
def _ramp_photo() -> np.ndarray:
    """Every channel the column number: the photo's own gradient energy is 1 everywhere."""
    return np.repeat(np.tile(np.arange(60, dtype=np.uint8), (40, 1))[..., None], 3, axis=2)


def _stepped(photo: np.ndarray, top: int, left: int, alpha: np.ndarray, height: int = 20) -> float:
    frame = photo.astype(np.int32)
    frame[top : top + 10, left : left + 10] += height
    region = (slice(top, top + 10), slice(left, left + 10))
    return seam_error(frame.astype(np.uint8), photo, region, alpha)


def _ring(value: float, depth: int = 0) -> np.ndarray:
    """10x10 weights of 1 with the square ring ``depth`` pixels in set to ``value``."""
    alpha = np.ones((10, 10), np.float32)
    inner = alpha[depth : 10 - depth, depth : 10 - depth]
    inner[[0, -1]] = value
    inner[:, [0, -1]] = value
    return alpha


def test_a_hard_step_inside_the_photo_scores_its_height_squared_over_the_band():
    """A 10 px square raised by h = 20 with a hard edge. Central differences put h/2 on the pixel either
    side of each of the 4 edges: 8n pixels of energy h^2/4, 2n h^2 in all. The band is the edge line
    (the square's outer ring) grown by one pixel (a cross): 12n - 16 pixels. 2*10*400 / 104."""
    assert _stepped(_ramp_photo(), 10, 10, np.ones((10, 10), np.float32)) == pytest.approx(8000 / 104, rel=1e-5)


@pytest.mark.parametrize(("top", "left"), [(0, 0), (30, 50)])
def test_a_hard_step_in_a_corner_of_the_photo_counts_only_its_two_inner_edges(top, left):
    """In a corner, two of the edges are the photo's own: no outside pixel, no gradient across them (the
    window stops at the photo), so n h^2 over a band of 10n - 16 pixels."""
    assert _stepped(_ramp_photo(), top, left, np.ones((10, 10), np.float32)) == pytest.approx(4000 / 84, rel=1e-5)


def test_no_trace_of_a_seam_scores_zero():
    photo = _ramp_photo()
    region, alpha = (slice(10, 20), slice(10, 20)), np.ones((10, 10), np.float32)
    assert seam_error(photo.copy(), photo, region, alpha) == 0
    assert seam_error(photo + 5, photo, region, alpha) == 0  # a change with no step at the edge


def test_a_flat_photo_divides_by_a_floor_not_by_zero():
    flat = np.full((40, 60, 3), 100, np.uint8)
    assert _stepped(flat, 10, 10, np.ones((10, 10), np.float32)) == pytest.approx(8000 / 104 * 1e6, rel=1e-5)


@pytest.mark.parametrize(
    ("ring", "same_as", "across", "depth"),
    [(0.5, 0.4999, 0.5001, 0), (0.01, 0.0, 0.0101, 0), (0.99, 1.0, 0.9899, 3)],
    ids=["half is outside", "a hundredth is no weight", "99 hundredths is full weight"],
)
def test_the_bands_thresholds_are_strict(ring, same_as, across, depth):
    """Weights exactly at a threshold count as the side they touch: 1/2 is not inside, 0.01 and 0.99 are
    not between (a ring of them moves the band, and so the score, if they did)."""
    photo = _ramp_photo()
    assert _stepped(photo, 10, 10, _ring(ring, depth)) == _stepped(photo, 10, 10, _ring(same_as, depth))
    assert _stepped(photo, 10, 10, _ring(ring, depth)) != _stepped(photo, 10, 10, _ring(across, depth))
