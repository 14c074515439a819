"""Boxes and the square crop framing, against geometry worked out by hand (issue 30): the corners,
areas, overlaps and unions of boxes drawn on paper; the training data's framing (the box grown by its
margin on each side, made square, moved up, pushed inside the frame); the one-line refusals of bad
boxes and bad options. Fast unit tests: the crop package's mutation run uses them.
"""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop.box import Box, CropError, frame_box, parse_box
from fomm.crop.options import FRAMING, LEVEL_MIN, CropOptions


# ------------------------------------------------------------------------------ Box
def test_a_box_knows_its_corners_centre_and_area():
    box = Box(10, 20, 30, 40)
    assert (box.right, box.bottom, box.center, box.area) == (40, 60, (25.0, 40.0), 1200.0)
    assert Box(0, 0, -3, 5).area == 0.0 and Box(0, 0, 5, -3).area == 0.0  # an inverted box holds nothing
    assert box.as_tuple() == (10, 20, 30, 40) and box.score == 1.0 and box.angle == 0.0 and box.landmarks is None


@pytest.mark.parametrize(("x", "y", "inside"), [
    (10, 20, True), (40, 60, True), (25, 40, True),  # both corners count: the box covers columns x .. x + w
    (9.9, 30, False), (40.1, 30, False), (20, 19.9, False), (20, 60.1, False),
])
def test_a_box_contains_the_points_on_its_edges(x, y, inside):
    assert Box(10, 20, 30, 40).contains(x, y) is inside


def test_overlap_and_union_of_boxes_drawn_on_paper():
    a, b = Box(0, 0, 10, 10, score=0.9), Box(5, 2, 10, 20, score=0.4)
    assert a.intersection(b) == 5 * 8 == b.intersection(a)
    assert a.iou(b) == pytest.approx(40 / (100 + 200 - 40))
    assert a.iou(a) == 1.0
    assert a.intersection(Box(20, 0, 5, 5)) == 0.0 and a.iou(Box(20, 0, 5, 5)) == 0.0  # apart in x
    assert a.intersection(Box(0, 30, 5, 5)) == 0.0  # apart in y only
    assert a.intersection(Box(10, 0, 5, 5)) == 0.0  # touching along an edge
    assert Box(0, 0, 0, 0).iou(Box(0, 0, 0, 0)) == 0.0  # no area at all: no division by zero
    assert Box(0, 0, 0.5, 0.5).iou(Box(0, 0, 0.5, 0.5)) == 1.0  # under a pixel of area: still the same box
    union = a.union(b)
    assert union.as_tuple() == (0, 0, 15, 22) and union.score == 0.4  # the surer of the two is not claimed
    assert b.union(a).as_tuple() == (0, 0, 15, 22)
    assert Box(3, 4, 1, 1).union(Box(-2, 9, 1, 2)).as_tuple() == (-2, 4, 6, 7)


def test_a_moved_box_takes_its_landmarks_along():
    box = Box(10, 20, 30, 40, score=0.7, landmarks=(11.0, 21.0, 12.0, 22.0), angle=15.0)
    moved = box.moved(5, -3, scale=2.0)
    assert moved.as_tuple() == (25, 37, 60, 80) and moved.landmarks == (27.0, 39.0, 29.0, 41.0)
    assert (moved.score, moved.angle) == (0.7, 15.0)
    assert box.moved(1, 2).as_tuple() == (11, 22, 30, 40)
    assert Box(1, 2, 3, 4).moved(1, 1).landmarks is None
    assert box.with_score(0.2).score == 0.2 and box.with_score(0.2).as_tuple() == box.as_tuple()


def test_rounding_takes_the_pixels_the_corners_fall_in():
    # corners 10.4 -> 10, 20.5 -> 21 (halves go up, unlike Python's round), 40.6 -> 41, 60.49 -> 60
    rounded = Box(10.4, 20.5, 30.2, 39.99, score=0.3, angle=12.0).rounded()
    assert rounded.as_tuple() == (10, 21, 31, 39) and (rounded.score, rounded.angle) == (0.3, 12.0)
    assert Box(-0.5, 1.5, 1, 1).rounded().as_tuple() == (0, 2, 1, 1)  # -0.5 rounds up to 0, not down to -1


@pytest.mark.parametrize(("box", "problem"), [
    (Box(0, 0, 0, 5), "box 0,0,0,5 is empty; give a positive width and height"),
    (Box(0, 0, 5, -1), "box 0,0,5,-1 is empty; give a positive width and height"),
    (Box(1, 2, 5, 0), "box 1,2,5,0 is empty; give a positive width and height"),
    (Box(-5, 0, 5, 5), "box -5,0,5,5 is outside the 64x48 image; give X,Y,W,H with 0 <= X < 64 and 0 <= Y < 48"),
    (Box(0, -5, 5, 5), "box 0,-5,5,5 is outside the 64x48 image; give X,Y,W,H with 0 <= X < 64 and 0 <= Y < 48"),
    (Box(64, 0, 5, 5), "box 64,0,5,5 is outside the 64x48 image; give X,Y,W,H with 0 <= X < 64 and 0 <= Y < 48"),
    (Box(0, 48, 5, 5), "box 0,48,5,5 is outside the 64x48 image; give X,Y,W,H with 0 <= X < 64 and 0 <= Y < 48"),
])
def test_a_box_off_the_image_is_refused_in_one_line(box, problem):
    with pytest.raises(CropError) as caught:
        box.check_inside(64, 48)
    assert str(caught.value) == problem


def test_a_box_overlapping_the_image_by_a_pixel_is_taken():
    for box in (Box(-4, -4, 5, 5), Box(63, 47, 10, 10), Box(-10, 10, 10.5, 5), Box(0.5, 0.5, 0.5, 0.5)):
        box.check_inside(64, 48)
    with pytest.raises(CropError, match=r"^--crop box 1,2,0,4 is empty"):
        Box(1, 2, 0, 4).check_inside(64, 48, "--crop box")
    assert Box(1.5, 2, 3.25, 4e6).describe() == "1.5,2,3.25,4e+06"


# ------------------------------------------------------------------------------ parse_box
def test_a_box_is_read_from_x_y_w_h():
    box = parse_box(" 120, 40 ,256,255.5 ")
    assert box.as_tuple() == (120, 40, 256, 255.5) and box.score == 1.0
    assert parse_box("3,4,1,1").as_tuple() == (3, 4, 1, 1)  # a single pixel
    assert parse_box("3,4,0.5,0.25").as_tuple() == (3, 4, 0.5, 0.25)


@pytest.mark.parametrize("text", ["1,2,3", "1,2,3,4,5", "a,b,c,d", "1,2,nan,4", "1,inf,3,4", "", "1;2;3;4"])
def test_a_box_that_is_no_x_y_w_h_names_the_format(text):
    with pytest.raises(CropError) as caught:
        parse_box(text)
    assert str(caught.value) == f"expected a box as X,Y,W,H in pixels (e.g. 120,40,256,256), got {text!r}"


@pytest.mark.parametrize("text", ["1,2,0,4", "1,2,4,0", "1,2,-3,4"])
def test_an_empty_box_is_refused(text):
    with pytest.raises(CropError) as caught:
        parse_box(text)
    assert str(caught.value) == f"box {text!r} is empty; give a positive width and height"


# ------------------------------------------------------------------------------ framing
def test_the_square_grows_by_the_margin_on_each_side_around_the_centre():
    # a 40x60 box at (100, 200): side 60 * (1 + 2 * 0.5) = 120, centred on (120, 230)
    square = frame_box(Box(100, 200, 40, 60, score=0.8, angle=7.0), 0.5)
    assert square.as_tuple() == (60, 170, 120, 120) and (square.score, square.angle) == (0.8, 7.0)
    assert frame_box(Box(100, 200, 60, 40), 0).as_tuple() == (100, 190, 60, 60)  # the shorter side grows
    # shift_up 0.25 of the 120 px side: 30 px up
    assert frame_box(Box(100, 200, 40, 60), 0.5, shift_up=0.25).as_tuple() == (60, 140, 120, 120)


def test_a_square_near_the_border_is_pushed_inside_not_clipped():
    assert frame_box(Box(0, 0, 20, 20), 0.5, 200, 100).as_tuple() == (0, 0, 40, 40)  # would start at -10
    assert frame_box(Box(190, 90, 10, 10), 0.5, 200, 100).as_tuple() == (180, 80, 20, 20)  # would end past
    assert frame_box(Box(50, 50, 10, 10), 0.5, 200, 100).as_tuple() == (45, 45, 20, 20)  # inside: unmoved
    assert frame_box(Box(0, 0, 20, 20), 0.5, 200, None).as_tuple() == (-10, -10, 40, 40)  # no frame size given


def test_a_square_larger_than_the_frame_stays_centred_on_it():
    # side 120 in a 100 x 80 frame: x = (100 - 120) / 2, y = (80 - 120) / 2, wherever the box was
    assert frame_box(Box(0, 0, 60, 60), 0.5, 100, 80).as_tuple() == (-10, -20, 120, 120)
    assert frame_box(Box(0, 0, 50, 50), 0.0, 50, 100).as_tuple() == (0, 0, 50, 50)  # exactly the frame's width
    assert frame_box(Box(10, 30, 50, 50), 0.0, 50, 100).as_tuple() == (0, 30, 50, 50)


# ------------------------------------------------------------------------------ options
def test_the_training_framing_per_target():
    # VoxCeleb: the face box about 0.45 of the crop's side; TaiChi: the whole person with a little room
    assert FRAMING == {"face": (0.6, 0.05), "person": (0.1, 0.0)}
    assert CropOptions().framing == (0.6, 0.05) and CropOptions(target="person").framing == (0.1, 0.0)
    assert CropOptions(margin=0.0).framing == (0.0, 0.05)
    # a 100 px face at (300, 200) in a 1000 x 800 frame: side 100 * 2.2 = 220, centre (350, 250 - 11)
    crop = CropOptions().crop_box(Box(300, 200, 100, 100, score=0.9), 1000, 800)
    assert crop.as_tuple() == (240, 129, 220, 220) and crop.score == 0.9
    # the same face in the top-left corner: the square (at -60, -71) is pushed inside the frame
    assert CropOptions().crop_box(Box(0, 0, 100, 100), 1000, 800).as_tuple() == (0, 0, 220, 220)
    assert CropOptions().crop_box(Box(900, 700, 100, 100), 1000, 800).as_tuple() == (780, 580, 220, 220)
    person = CropOptions(target="person").crop_box(Box(300, 200, 100, 300), 1000, 800)
    assert person.as_tuple() == (170, 170, 360, 360)  # side 300 * 1.2, centred on (350, 350), no shift


@pytest.mark.parametrize(("angle", "level", "turned"), [
    (LEVEL_MIN, True, LEVEL_MIN), (-25.0, True, -25.0), (9.9, True, 0.0), (-9.9, True, 0.0), (30.0, False, 0.0),
])
def test_only_a_face_tilted_past_the_threshold_is_cropped_turned(angle, level, turned):
    crop = CropOptions(level=level).crop_box(Box(300, 200, 100, 100, angle=angle), 1000, 800)
    assert crop.angle == turned and crop.as_tuple() == (240, 129, 220, 220)


def test_leveling_measures_only_faces_and_only_when_asked(monkeypatch):
    import fomm.crop.options as options_module

    image, boxes = np.zeros((8, 8, 3), np.uint8), [Box(0, 0, 4, 4), Box(1, 0, 4, 4)]
    seen = []

    def face_roll(picture, box, backend):
        seen.append((picture is image, backend))
        return 12.5 + box.x

    monkeypatch.setattr(options_module, "face_roll", face_roll)
    assert [b.angle for b in CropOptions(backend="haar").level_boxes(image, boxes)] == [12.5, 13.5]
    assert seen == [(True, "haar"), (True, "haar")]  # measured on this image with the chosen detector
    assert CropOptions(level=False).level_boxes(image, boxes) == boxes
    assert CropOptions(target="person").level_boxes(image, boxes) == boxes


def test_detection_goes_to_the_targets_detector_with_the_options(monkeypatch):
    import fomm.crop.options as options_module

    calls = []
    image = np.zeros((8, 8, 3), np.uint8)

    def detect(picture, target, **kw):
        calls.append((target, kw))
        return [Box(0, 0, 1, 1)] if picture is image else []

    monkeypatch.setattr(options_module, "detect", detect)
    assert CropOptions(backend="haar", max_side=320).detect(image) == [Box(0, 0, 1, 1)]  # this image's boxes
    CropOptions(target="person", backend="haar", max_side=320).detect(image, max_side=100)
    CropOptions().detect(image, backend="cnn")
    assert calls == [("face", {"backend": "haar", "max_side": 320}), ("person", {"max_side": 100}),
                     ("face", {"backend": "cnn", "max_side": 640})]


@pytest.mark.parametrize(("options", "message"), [
    (dict(target="cat"), "target must be one of face, person, got 'cat'"),
    (dict(size=0), "size must be a positive number of pixels, got 0"),
    (dict(margin=-0.1), "margin must be >= 0 (a fraction of the box's size), got -0.1"),
    (dict(iou_threshold=1.0), "iou_threshold must be in [0, 1), got 1.0"),
    (dict(iou_threshold=-0.01), "iou_threshold must be in [0, 1), got -0.01"),
    (dict(max_zoom=0.99), "max_zoom must be >= 1 (1: a still's framing), got 0.99"),
    (dict(max_zoom=float("nan")), "max_zoom must be >= 1 (1: a still's framing), got nan"),
    (dict(min_frames=0), "min_frames and full_every must be >= 1, max_gap and smooth >= 0"),
    (dict(max_gap=-1), "min_frames and full_every must be >= 1, max_gap and smooth >= 0"),
    (dict(full_every=0), "min_frames and full_every must be >= 1, max_gap and smooth >= 0"),
    (dict(smooth=-0.5), "min_frames and full_every must be >= 1, max_gap and smooth >= 0"),
])
def test_bad_crop_options_are_refused_in_one_line(options, message):
    with pytest.raises(CropError) as caught:
        CropOptions(**options)
    assert str(caught.value) == message


def test_the_edges_of_the_option_ranges_are_taken():
    CropOptions(size=1, margin=0.0, iou_threshold=0.0, max_zoom=1.0, min_frames=1, max_gap=0, full_every=1,
                smooth=0.0)
    CropOptions(iou_threshold=0.99, target="person")
    defaults = CropOptions()
    assert (defaults.target, defaults.size, defaults.margin, defaults.min_frames, defaults.max_zoom,
            defaults.iou_threshold, defaults.max_gap, defaults.smooth, defaults.full_every, defaults.backend,
            defaults.max_side, defaults.level) == ("face", 256, None, 1, 1.5, None, 15, 2.0, 15, "auto", 640, True)
