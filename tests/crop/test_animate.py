"""The animation stream's crop transforms around the Animator: segment crops, relative motion restarting at each
segment, frames without a driving subject, several faces pasted into one photo."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.animation import Animator
from fomm.crop import Box, CropError, crop_square
from fomm.crop.animate import Animation, DrivingCrops
from tests.animation.helpers import SIZE

from .scenes import moving_frames, place


@pytest.fixture(scope="module")
def photo():
    return place((200, 260), 160, 50, 20)[0]


def _animation(model, photo, boxes, driving, paste_back=True):
    return Animation.prepare(lambda crop: Animator(model, crop, batch_size=2), photo, boxes, driving, SIZE,
                                 paste_back=paste_back)


def test_driving_frames_are_cropped_per_group_and_absent_frames_rest(model, photo):
    frames, _, _ = moving_frames(n=6, jump=99, blank=None)
    first, second = Box(80, 20, 120, 120), Box(120, 20, 140, 140)
    driving = DrivingCrops([first] * 3 + [second] * 3, [(0, 3, 0), (3, 6, 3)], [True, True, False, True, True, True])
    crops = _animation(model, photo, [Box(60, 10, 100, 100)], driving)
    out = list(crops.stream(frames))
    assert [f.index for f in out] == list(range(6))
    assert np.array_equal(out[2].image, photo)  # no subject: the photo as it is
    assert not np.array_equal(out[1].image, photo)
    for i in (0, 1, 3):  # the animator saw the crop of the frame's group
        expected = crop_square(frames[i], first if i < 3 else second, SIZE)
        assert np.array_equal(out[i].faces[0].driving, expected)
    # relative motion restarts at each group: its first frame reproduces the source's pose, like frame 0
    assert np.allclose(out[3].faces[0].kp_used, out[0].faces[0].kp_used, atol=1e-5)
    assert np.allclose(out[0].faces[0].kp_used, crops.animators[0].kp_source_array, atol=1e-5)


def test_several_faces_need_paste_back(model, photo):
    with pytest.raises(CropError, match="paste-back"):
        _animation(model, photo, [Box(0, 0, 50, 50), Box(60, 0, 50, 50)], None, paste_back=False)


def test_fixed_crop_for_any_length(model, photo):
    box = Box(10, 10, 80, 80)
    driving = DrivingCrops.fixed(box)
    crops = _animation(model, photo, [Box(60, 10, 100, 100)], driving, paste_back=False)
    frames = [np.full((120, 160, 3), v, np.uint8) for v in (10, 200, 90)]
    out = list(crops.stream(frames))
    assert len(out) == 3 and out[0].image.shape == (SIZE, SIZE, 3)
    assert np.array_equal(out[1].faces[0].driving, crop_square(frames[1], box, SIZE))
