"""Paste-back: the animated crop goes back where it was cut, and nothing else of the photo changes."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop import Box, CropError
from fomm.crop.image import PasteBack, crop_square, paste_back, user_box

from .scenes import astronaut, place


@pytest.fixture(scope="module")
def photo():
    return place((301, 403), 256, 60, 30)[0]  # odd sides on purpose


def outside(mask_box: Box, shape) -> np.ndarray:
    mask = np.ones(shape[:2], bool)
    x, y, side = int(mask_box.x), int(mask_box.y), int(mask_box.w)
    mask[max(y, 0) : y + side, max(x, 0) : x + side] = False
    return mask


@pytest.mark.parametrize("box", [Box(100, 40, 150, 150), Box(-30, 200, 160, 160), Box(350, -20, 90, 90)])
def test_every_pixel_outside_the_box_is_the_photo(photo, box):
    rng = np.random.default_rng(0)
    paste = PasteBack(photo, box)
    for _ in range(3):
        crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        out = paste(crop)
        assert out.shape == photo.shape and out.dtype == np.uint8
        keep = outside(paste.box, photo.shape)
        assert np.array_equal(out[keep], photo[keep])
        assert not np.array_equal(out[~keep], photo[~keep])


def test_pasting_the_unchanged_crop_gives_the_photo_back(photo):
    box = Box(90, 40, 150, 150)
    out = PasteBack(photo, box)(crop_square(photo, box, 256))
    assert np.abs(out.astype(int) - photo).mean() < 1.0
    assert np.abs(out.astype(int) - photo).max() < 40


def test_the_center_shows_the_animation_and_the_edge_fades(photo):
    box = Box(90, 40, 150, 150)
    white = np.full((64, 64, 3), 255, np.uint8)
    out = PasteBack(photo, box, color=False)(white)
    assert (out[115, 165] == 255).all()  # the center is the crop
    edge = out[41, 91].astype(int)  # one pixel inside the corner: still almost the photo
    assert np.abs(edge - photo[41, 91]).max() < 10


def test_color_drift_of_the_animation_is_corrected(photo):
    box = Box(90, 40, 150, 150)
    shifted = np.clip(crop_square(photo, box, 128).astype(int) + 40, 0, 255).astype(np.uint8)  # a brighter result
    plain = PasteBack(photo, box, color=False)(shifted)
    fixed = PasteBack(photo, box)(shifted)
    inside = ~outside(Box(90, 40, 150, 150), photo.shape)
    assert np.abs(fixed[inside].astype(int) - photo[inside]).mean() < 0.3 * np.abs(
        plain[inside].astype(int) - photo[inside]).mean()


def test_crop_square_pads_outside_the_frame_and_resizes():
    image = astronaut(128)
    crop = crop_square(image, Box(-64, 0, 128, 128), 64)
    assert crop.shape == (64, 64, 3)
    assert crop[:, :30].max() == 0  # the left half lies outside the image
    exact = crop_square(image, Box(10, 20, 50, 50), 50)
    assert np.array_equal(exact, image[20:70, 10:60])
    with pytest.raises(CropError, match="outside"):
        crop_square(image, Box(500, 500, 10, 10), 64)


def test_user_boxes_are_squared_and_checked():
    assert user_box(Box(10, 20, 40, 80), 200, 200) == Box(-10, 20, 80, 80, 1.0)
    with pytest.raises(CropError, match="outside the 200x100 image"):
        user_box(Box(300, 0, 10, 10), 200, 100)


def test_paste_back_streams(photo):
    frames = list(paste_back(iter([np.zeros((32, 32, 3), np.uint8)] * 2), photo, Box(100, 40, 120, 120)))
    assert len(frames) == 2 and frames[0].shape == photo.shape
