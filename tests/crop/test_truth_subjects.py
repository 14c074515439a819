"""The source photo's subjects and the crops chosen from them, against the photos' known faces
(issue 30): every face found, largest first, each framed like the training data around its true
centre and size; ``--crop none`` and a box given by hand from the frame's own geometry; the driving
video's crops per segment, with the frames between segments marked absent, from a plan drawn by hand;
the exact refusals. Fast unit tests for the crop package's mutation run.
"""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop import Box, CropError, CropOptions, NoSubjectError, image_subjects
from fomm.crop.animate import CLI_DRIVING_FIX, CLI_SOURCE_FIX, DrivingCrops, parse_crop, plan_driving, source_boxes
from fomm.crop.track import CropPlan, Segment

from .footage import assert_framed, expected_crop
from .scenes import BACKGROUND, astronaut, place

BIG, SMALL = (20, 40), (460, 150)  # the two astronauts' top-left corners


@pytest.fixture(scope="module")
def two_faces():
    """A 480x800 photo with the astronaut twice, 400 px (face 74 px) and 300 px (face 56 px), and
    their true faces (centre, size), the larger first."""
    image, big_center, big_size = place((480, 800), 400, *BIG)
    image[SMALL[1] : SMALL[1] + 300, SMALL[0] : SMALL[0] + 300] = astronaut(300)
    small_center = (SMALL[0] + 225.0 * 300 / 512, SMALL[1] + 115.0 * 300 / 512)
    return image, [(big_center, big_size), (small_center, 95.0 * 300 / 512)]


def test_every_face_is_found_largest_first_and_framed_around_its_true_face(two_faces):
    image, faces = two_faces
    subjects = image_subjects(image)
    assert len(subjects) == 2
    for subject, (center, size) in zip(subjects, faces, strict=True):
        assert subject.box.contains(*center)
        assert_framed(subject.crop, expected_crop([(center, size)]), "image_subjects")
    assert subjects[0].box.area > subjects[1].box.area


def test_the_source_photos_crops_are_its_subjects(two_faces):
    image, faces = two_faces
    options = CropOptions()
    largest = source_boxes(image, "auto", options)
    every = source_boxes(image, "auto", options, faces="all")
    second = source_boxes(image, "auto", options, face=1)
    assert len(largest) == 1 and len(every) == 2 and len(second) == 1
    assert_framed(largest[0], expected_crop([faces[0]]), "the largest")
    assert every[0] == largest[0] and every[1] == second[0]
    assert_framed(second[0], expected_crop([faces[1]]), "face 1")
    with pytest.raises(CropError) as caught:
        source_boxes(image, "auto", options, face=2)
    assert str(caught.value) == ("face 2: the source photo has 2 faces (0 to 1, largest first; fomm crop PHOTO "
                                 "--list shows them)")


def test_a_photo_with_one_face_is_counted_in_the_singular():
    image = place((300, 300), 256, 20, 20)[0]
    with pytest.raises(CropError) as caught:
        source_boxes(image, "auto", CropOptions(), face=1)
    assert str(caught.value).startswith("face 1: the source photo has 1 face (0 to 0, ")


@pytest.mark.parametrize(("target", "what", "fix", "message"), [
    ("face", None, None, "no face found in the image (the detector needs a face at least about 40 px tall, facing "
                         "the camera or in profile); crop it by hand, or try --target person"),
    ("person", "photo.png", "give a box", "no person found in photo.png (the detector needs a person standing, at "
                                          "least about 128 px tall, facing the camera or in profile); give a box"),
])
def test_an_empty_photo_is_refused_in_one_line_naming_the_fix(target, what, fix, message):
    empty = np.full((200, 300, 3), BACKGROUND, np.uint8)
    words = {k: v for k, v in (("what", what), ("fix", fix)) if v is not None}
    with pytest.raises(NoSubjectError) as caught:
        image_subjects(empty, CropOptions(target=target), **words)
    assert str(caught.value) == message


def test_source_boxes_names_the_source_photo_and_the_cli_fix():
    empty = np.full((200, 300, 3), BACKGROUND, np.uint8)
    with pytest.raises(NoSubjectError) as caught:
        source_boxes(empty, "auto", CropOptions())
    assert str(caught.value).startswith("no face found in the source photo (")
    assert str(caught.value).endswith("; " + CLI_SOURCE_FIX)
    with pytest.raises(NoSubjectError) as caught:
        source_boxes(empty, "auto", CropOptions(), fix="use the app's box tool")
    assert str(caught.value).endswith("; use the app's box tool")


@pytest.mark.parametrize(("shape", "fit", "square"), [
    ((200, 300), "crop", (50, 0, 200)),  # the centre square of a wide frame
    ((300, 200), "crop", (0, 50, 200)),  # of a tall one
    ((201, 300), "crop", (49, 0, 201)),
    ((200, 300), "pad", (0, -50, 300)),  # the square that holds the whole frame, padded
    ((300, 200), "pad", (-50, 0, 300)),
])
def test_crop_none_is_the_square_the_animator_would_take(shape, fit, square):
    photo = np.zeros((*shape, 3), np.uint8)
    (box,) = source_boxes(photo, "none", CropOptions(), fit=fit)
    x, y, side = square
    assert box.as_tuple() == (x, y, side, side)


def test_a_box_given_by_hand_is_made_square_around_its_centre():
    photo = np.zeros((200, 300, 3), np.uint8)
    (box,) = source_boxes(photo, Box(100, 50, 60, 40), CropOptions())
    assert box.as_tuple() == (100, 40, 60, 60)  # the short side grown about the centre (130, 70)
    fixed = plan_driving([], (300, 200), Box(100, 50, 40, 60), CropOptions())
    assert fixed.box(0).as_tuple() == (90, 50, 60, 60) and fixed.box(10**6).as_tuple() == (90, 50, 60, 60)
    assert fixed.is_present(123) and fixed.group(99) == (0, 1 << 62, 0) and fixed.num_segments == 1
    assert plan_driving([], (300, 200), "none", CropOptions()) is None


def test_crop_values_are_auto_none_or_a_box():
    assert parse_crop("auto") == "auto" and parse_crop("none") == "none"
    assert parse_crop("10,20,30,40").as_tuple() == (10, 20, 30, 40)
    with pytest.raises(CropError):
        parse_crop("everything")


def _plan(num_frames: int, spans: list[tuple[int, int, Box]]) -> CropPlan:
    segments = [Segment(0, start, end, crop, []) for start, end, crop in spans]
    return CropPlan(num_frames, (120, 160), [segments] if segments else [], [], CropOptions())


def test_driving_crops_follow_the_segments_and_mark_the_frames_between_them_absent():
    a, b = Box(0, 0, 50, 50), Box(60, 10, 70, 70)
    # frames 0-1 before the first segment, 2-4 in it, 5-6 lost, 7-9 the second segment, 10-11 after it
    crops = DrivingCrops.from_plan(_plan(12, [(2, 5, a), (7, 10, b)]))
    assert crops.present == [False] * 2 + [True] * 3 + [False] * 2 + [True] * 3 + [False] * 2
    assert crops.boxes == [a] * 7 + [b] * 5  # a segment's crop holds until the next one starts
    assert crops.groups == [(0, 7, 2), (7, 12, 7)]  # relative motion from each segment's first frame
    assert [crops.group(f) for f in (0, 6, 7, 11, 50)] == [(0, 7, 2)] * 2 + [(7, 12, 7)] * 3
    assert crops.num_segments == 2 and crops.box(11) == b and crops.box(40) == b  # past the end: the last crop
    assert crops.is_present(3) and not crops.is_present(6) and crops.is_present(40)


def test_a_driving_video_without_a_subject_is_refused_naming_its_frames():
    with pytest.raises(NoSubjectError) as caught:
        DrivingCrops.from_plan(_plan(9, []), "drive.mp4")
    assert str(caught.value) == ("no face found in any of the 9 driving frames of drive.mp4 (the detector needs a "
                                 "face at least about 40 px tall, facing the camera or in profile); "
                                 + CLI_DRIVING_FIX)
    with pytest.raises(NoSubjectError) as caught:
        DrivingCrops.from_plan(_plan(4, []), "clip.mp4", fix="try another clip", kind="source")
    assert str(caught.value).startswith("no face found in any of the 4 source frames of clip.mp4 (")
    assert str(caught.value).endswith("; try another clip")


@pytest.mark.parametrize(("canvas", "corner", "edges"), [
    ((480, 640), (-100, -10), "top left"),
    ((300, 540), (300, 150), "bottom right"),
])
def test_a_face_near_the_photos_edge_gets_a_crop_moved_inside_it(canvas, corner, edges):
    """The crop framed around the true face would stick out past two of the photo's edges: it is moved
    inside, whole and square, touching those edges (not clipped, not padded)."""
    height, width = canvas
    image, center, size = place(canvas, 400, *corner)
    framed = expected_crop([(center, size)])
    (subject,) = image_subjects(image)
    crop = subject.crop
    assert crop.w == crop.h and 0 <= crop.x and 0 <= crop.y and crop.x + crop.w <= width and crop.y + crop.h <= height
    if edges == "top left":
        assert framed.x < 0 and framed.y < 0 and (crop.x, crop.y) == (0, 0)
    else:
        assert framed.x + framed.w > width and framed.y + framed.h > height
        assert (crop.x + crop.w, crop.y + crop.h) == (width, height)
