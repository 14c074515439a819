"""Face and person detection on a real photograph at known places (OpenCV's cascades, offline)."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop import Box, CropError, available_backends, detect, detect_faces, non_max_suppression

from .scenes import astronaut, place


def assert_finds_face(boxes: list[Box], center: tuple[float, float], size: float) -> None:
    assert boxes, "no face found"
    box = boxes[0]
    assert box.contains(*center), f"{box} does not contain the true face center {center}"
    assert 0.6 * size <= box.w <= 1.8 * size, f"{box} is not the size of a {size:.0f} px face"


def test_finds_the_astronaut_face_in_the_original_photo():
    image, center, size = place((512, 512), 512, 0, 0, astronaut(512))
    assert_finds_face(detect_faces(image), center, size)


@pytest.mark.parametrize(("x", "y", "mirror"), [(20, 40, False), (130, 10, False), (60, 30, True)])
def test_finds_the_face_where_it_was_placed(x, y, mirror):
    image, (cx, cy), size = place((300, 400), 256, x, y)
    if mirror:  # a face looking the other way (the profile cascade only knows one direction)
        image, cx = np.ascontiguousarray(image[:, ::-1]), image.shape[1] - 1 - cx
    boxes = detect_faces(image)
    assert_finds_face(boxes, (cx, cy), size)
    assert all(isinstance(v, float) for v in (boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h, boxes[0].score))


def test_boxes_are_in_original_pixels_when_detection_runs_downscaled():
    image, center, size = place((720, 1280), 448, 700, 200)  # detection runs at 640x360
    assert_finds_face(detect_faces(image), center, size)


def test_no_face_in_a_plain_image_or_noise():
    rng = np.random.default_rng(0)
    assert detect_faces(np.full((120, 160, 3), 128, np.uint8)) == []
    assert detect_faces(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)) == []


def test_gray_images_are_accepted_and_bad_inputs_refused():
    image, center, size = place((300, 400), 256, 20, 40)
    assert_finds_face(detect_faces(image.mean(axis=2).astype(np.uint8)), center, size)
    with pytest.raises(CropError, match="uint8 RGB"):
        detect_faces(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(CropError, match="target"):
        detect(image, "cat")
    with pytest.raises(CropError, match="unknown face detector"):
        detect_faces(image, backend="nope")


def test_haar_is_always_available_and_last():
    assert available_backends()[-1] == "haar"


def test_person_detector_finds_the_standing_astronaut():
    image, _, _ = place((360, 640), 256, 300, 50)
    people = detect(image, "person")
    assert people
    body = Box(300, 50, 256, 256)
    assert people[0].intersection(body) > 0.5 * people[0].area


def test_non_max_suppression_keeps_the_surest_of_overlapping_boxes():
    a, b, c = Box(0, 0, 10, 10, 5.0), Box(1, 1, 10, 10, 9.0), Box(50, 50, 10, 10, 1.0)
    inner = Box(2, 2, 5, 5, 20.0)  # mostly inside b: one face seen twice
    assert non_max_suppression([a, b, c]) == [b, c]
    assert non_max_suppression([b, inner]) == [inner]
