"""Seamless paste-back: an animation lit differently from the photo (one side darker, as when the
light differs across the face) is matched to the photo across the seam, and the seam error, the
gradient energy the paste adds along its boundary over the photo's own, drops."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop import Box, CropError
from fomm.crop.image import PasteBack, crop_square, face_feather

from .scenes import place


@pytest.fixture(scope="module")
def scene():
    photo, (cx, cy), size = place((400, 500), 384, 40, 10)
    face = Box(cx - size / 2, cy - size / 2, size, size)  # the true face, from where it was placed
    side = round(2.2 * size)
    box = Box(round(cx - side / 2), round(cy - side / 2), side, side)
    crop = crop_square(photo, box, 256).astype(np.float32)
    light = np.linspace(0.75, 1.15, 256)[None, :, None]  # darker on the left, brighter on the right
    lit = np.clip(crop * light + 12, 0, 255).astype(np.uint8)
    return photo, face, box, lit, crop_square(photo, box, 256)


def test_the_seam_error_is_small_for_the_photos_own_crop_and_large_for_a_hard_lit_paste(scene):
    photo, face, box, lit, own = scene
    hard = PasteBack(photo, box, feather=0.0, color="off")
    untouched = PasteBack(photo, box, face=face)
    assert hard.seam_error(hard(lit)) > 20 * untouched.seam_error(untouched(own))


def test_colour_matching_and_a_face_sized_feather_remove_the_seam(scene):
    photo, face, box, lit, own = scene
    before = PasteBack(photo, box, feather=0.0, color="off")
    after = PasteBack(photo, box, face=face)  # the defaults: colour field, feather sized to the face
    floor = after.seam_error(PasteBack(photo, box, face=face)(own))  # resampling alone
    assert after.seam_error(after(lit)) < 0.05 * before.seam_error(before(lit))
    assert after.seam_error(after(lit)) < 2 * floor
    inside = (slice(int(box.y), int(box.bottom)), slice(int(box.x), int(box.right)))
    error = {mode: np.abs(PasteBack(photo, box, face=face, color=mode)(lit)[inside].astype(int)
                          - photo[inside]).mean() for mode in ("off", "mean", "field")}
    assert error["field"] < 0.6 * error["mean"] and error["mean"] < error["off"]  # the field follows the light


def test_the_feather_is_sized_to_the_face():
    assert face_feather(200, Box(0, 0, 60, 60)) > face_feather(200, Box(0, 0, 120, 120))
    side, face = 220, Box(0, 0, 100, 100)
    feather = face_feather(side, face)
    assert (side - 2 * feather * side) >= 1.2 * 100 - 1e-6  # the fade ends outside the face


def test_bad_colour_modes_are_refused(scene):
    photo, _, box, _, _ = scene
    with pytest.raises(CropError, match="color must be one of field, mean, off"):
        PasteBack(photo, box, color="poisson")
