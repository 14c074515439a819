"""``fomm live --crop auto``: the source cropped around its face, the camera frames around the face found
at calibration (the first frame with one, then each x), a crop that stays fixed in between."""

from __future__ import annotations

import numpy as np

from fomm.animation.animator import prepare_input
from fomm.crop import CropOptions, crop_square
from fomm.crop.subjects import image_subjects
from fomm.live import LiveAnimator
from tests.crop.scenes import place

SIZE = 64  # the tiny model's frames


def _scene(x: int, y: int) -> np.ndarray:
    return place((300, 400), 256, x, y)[0]


def _crop(image: np.ndarray) -> tuple[np.ndarray, object]:
    """The crop the still pipeline frames around the image's largest face, and its box."""
    box = image_subjects(image, CropOptions(size=SIZE))[0].crop
    return crop_square(image, box, SIZE), box


def test_the_camera_crop_is_found_at_calibration_and_kept_until_the_next(model):
    source = _scene(100, 20)
    live = LiveAnimator(model, [source], crop="auto")
    assert np.array_equal(live.animator.source_frame, _crop(source)[0])  # the source's face, not the photo

    blank, left, right = np.full((300, 400, 3), 90, np.uint8), _scene(20, 30), _scene(130, 30)
    _, frame = live.animate(blank)  # no face yet: the whole frame goes in
    assert np.array_equal(frame.driving, prepare_input(blank, SIZE))
    want_left, box_left = _crop(left)
    _, frame = live.animate(left)  # the first face: its crop, and this frame becomes the neutral pose
    assert np.array_equal(frame.driving, want_left)
    assert np.allclose(frame.kp_used, live.animator.kp_source_array, atol=1e-5)
    _, frame = live.animate(right)  # the head moved: the crop stays, so the motion shows
    assert np.array_equal(frame.driving, crop_square(right, box_left, SIZE))
    live.recalibrate()
    want_right, box_right = _crop(right)
    _, frame = live.animate(right)  # x: the crop found again where the face is now
    assert box_right.x > box_left.x + 50 and np.array_equal(frame.driving, want_right)
    live.recalibrate()
    _, frame = live.animate(blank)  # x with no face in view keeps the last crop
    assert np.array_equal(frame.driving, crop_square(blank, box_right, SIZE))


def test_without_crop_whole_frames_go_in(model):
    scene = _scene(20, 30)
    live = LiveAnimator(model, [scene])
    _, frame = live.animate(scene)
    assert np.array_equal(frame.driving, prepare_input(scene, SIZE))
