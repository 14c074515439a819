"""Adapt scale's hull ratio against values known by geometry, and its refusal of keypoints with no area."""

from __future__ import annotations

import pytest
import torch

from fomm.animation.normalize import FlatKeypointsError, movement_scale
from fomm.models import Keypoints

SQUARE = torch.tensor([[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [0.0, 0.1]]])

FLAT = {
    "on one line (a collapsed detector)": torch.tensor([[[-0.5, 0.0], [0.0, 0.0], [0.5, 0.0], [0.2, 0.0], [0.1, 0.0]]]),
    "on one spot": torch.zeros(1, 5, 2),
    "two regions": torch.tensor([[[-0.5, 0.0], [0.5, 0.0]]]),
}


def test_the_scale_is_the_ratio_of_the_hulls_sides():
    # a square of side 1 against one of side 2: areas 1 and 4, scale sqrt(1 / 4)
    assert movement_scale(Keypoints(SQUARE), Keypoints(2 * SQUARE)) == pytest.approx(0.5)
    assert movement_scale(Keypoints(3 * SQUARE), Keypoints(SQUARE)) == pytest.approx(3.0)


@pytest.mark.parametrize("flat", FLAT.values(), ids=FLAT.keys())
def test_keypoints_with_no_area_are_refused_naming_the_fix(flat):
    square = SQUARE[:, :max(3, flat.shape[1])]
    with pytest.raises(FlatKeypointsError, match="keypoints of the source enclose no area.*--no-adapt-scale"):
        movement_scale(Keypoints(flat), Keypoints(square))
    with pytest.raises(FlatKeypointsError, match="keypoints of the first driving frame enclose no area"):
        movement_scale(Keypoints(square), Keypoints(flat))
