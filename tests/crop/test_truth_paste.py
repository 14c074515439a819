"""Paste-back against values known by construction (issue 30): the feathered edge fades on all four
sides alike, and the colour correction follows the animation's colour drift without flickering
when the border it is measured in changes for one frame.

Planted bugs caught: the feather ramp measured from the top/left edges only (``distance = t``) ->
``test_the_edge_fades_on_all_four_sides``; the colour offset not smoothed over time (each frame's
own measurement used) -> ``test_a_one_frame_change_in_the_border_does_not_flash_the_face``.
"""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop import Box, PasteBack, feather_mask

GRAY = 50
BOX = Box(40, 30, 100, 100)


@pytest.fixture
def photo():
    return np.full((160, 200, 3), GRAY, np.uint8)


def test_the_edge_fades_on_all_four_sides(photo):
    white = np.full((100, 100, 3), 255, np.uint8)
    out = PasteBack(photo, BOX, feather=0.12, color=False)(white).astype(int)
    x0, y0, side = 40, 30, 100
    middle_x, middle_y = x0 + side // 2, y0 + side // 2
    edges = {"top": (y0, middle_x), "bottom": (y0 + side - 1, middle_x), "left": (middle_y, x0),
             "right": (middle_y, x0 + side - 1)}
    for name, (y, x) in edges.items():  # the outermost row/column of the box: almost the photo
        assert out[y, x].max() - GRAY < 6, name
    inward = {"top": (y0 + 20, middle_x), "bottom": (y0 + side - 21, middle_x), "left": (middle_y, x0 + 20),
              "right": (middle_y, x0 + side - 21)}
    for name, (y, x) in inward.items():  # past the feather (12 px of 100): the crop itself
        assert (out[y, x] == 255).all(), name
    halfway = [out[y0 + 6, middle_x], out[y0 + side - 7, middle_x], out[middle_y, x0 + 6], out[middle_y, x0 + side - 7]]
    assert max(int(v[0]) for v in halfway) - min(int(v[0]) for v in halfway) <= 1  # the same ramp on every side
    assert GRAY + 40 < int(halfway[0][0]) < 255 - 40


def test_the_feather_mask_is_symmetric_and_zero_width_is_a_hard_edge():
    mask = feather_mask(40, 0.2)
    assert np.allclose(mask, mask[::-1]) and np.allclose(mask, mask[:, ::-1]) and np.allclose(mask, mask.T)
    assert mask[20, 20] == 1 and mask[0, 20] < 0.05 and mask[0, 0] < mask[0, 20]
    assert np.all(feather_mask(8, 0.0) == 1)


def _face(offset: float, border: float | None = None) -> np.ndarray:
    """An animated crop of the gray photo brightened by ``offset``; ``border``: another brightening of
    everything but the central half (where the colour is measured), for one frame."""
    crop = np.full((100, 100, 3), GRAY + offset, np.float32)
    if border is not None:
        crop[:] = GRAY + border
        crop[25:75, 25:75] = GRAY + offset
    return np.clip(crop, 0, 255).astype(np.uint8)


def test_a_constant_colour_drift_is_removed(photo):
    paste = PasteBack(photo, BOX, feather=0.12)
    for _ in range(3):
        out = paste(_face(40)).astype(int)
        assert np.abs(out[30:130, 40:140] - GRAY).max() <= 1  # the drift measured and taken off everywhere


def test_a_one_frame_change_in_the_border_does_not_flash_the_face(photo):
    """Frames 0-5 drift by +40, frame 6 has +120 in its border only (a hand passing the feathered edge),
    frame 7 is back to +40. Measured alone, frame 6 would take 80 levels off the whole face; smoothed
    over frames the face centre moves by a fraction of that, and comes back."""
    paste = PasteBack(photo, BOX, feather=0.12)
    centre = []
    for k in range(8):
        out = paste(_face(40, border=120 if k == 6 else None)).astype(int)
        centre.append(int(out[80, 90, 0]))
    assert all(abs(c - GRAY) <= 1 for c in centre[:6])
    flash = centre[5] - centre[6]
    assert 0 < flash <= 0.3 * 80  # the 80-level jump, damped (0.8 smoothing: 16)
    assert abs(centre[7] - GRAY) < flash  # on its way back


def test_reset_forgets_the_correction(photo):
    paste = PasteBack(photo, BOX, feather=0.12)
    for _ in range(4):
        paste(_face(40))
    paste.reset()
    out = paste(_face(-30)).astype(int)  # a cut: the new drift is taken off at once, not blended
    assert abs(int(out[80, 90, 0]) - GRAY) <= 1
