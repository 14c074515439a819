"""Tracking a real face moved by known transforms: boxes on every frame, gaps filled, segments split
where the subject jumps or disappears."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop import Box, CropError
from fomm.crop.track import CropOptions, Tracker, chain_tracks, plan_crops

from .scenes import astronaut, moving_frames, place

CANVAS = (300, 400)


def moving_scene(n: int = 20, jump: int = 10, blank: int | None = 14):
    return moving_frames(n, jump, blank, CANVAS)


@pytest.fixture(scope="module")
def scene():
    frames, centers, sizes = moving_scene()
    return frames, centers, sizes, plan_crops(frames, CropOptions(min_frames=2))


def test_every_frame_has_a_box_on_the_true_face(scene):
    frames, centers, sizes, plan = scene
    boxes = {fb.frame: fb for segment in plan.segments for fb in segment.boxes}
    assert sorted(boxes) == list(range(len(frames)))
    for f, fb in boxes.items():
        assert fb.box.contains(*centers[f]), (f, fb.box, centers[f])
        assert 0.6 * sizes[f] <= fb.box.w <= 1.8 * sizes[f]


def test_a_missed_frame_is_interpolated_not_dropped(scene):
    _, _, _, plan = scene
    flags = {fb.frame: fb.detected for segment in plan.segments for fb in segment.boxes}
    assert flags[14] is False
    assert all(flags[f] for f in flags if f != 14)


def test_segments_split_where_the_subject_jumps(scene):
    frames, centers, _, plan = scene
    assert [(s.start, s.end) for s in plan.segments] == [(0, 10), (10, 20)]
    assert len(plan.subjects) == 1  # one subject, two fixed crops
    for segment in plan.segments:
        crop = segment.crop
        assert crop.w == crop.h and crop.w == int(crop.w)  # square, whole pixels
        for f in range(segment.start, segment.end):  # the face stays inside its segment's one crop
            assert crop.contains(*centers[f])


def test_iou_rule_splits_a_slow_drift_too():
    photo = astronaut(256)
    frames = [place(CANVAS, 256, -40 + 12 * i, 20, photo)[0] for i in range(12)]
    options = CropOptions(min_frames=1, iou_threshold=0.5, smooth=0)
    plan = plan_crops(frames, options)
    assert len(plan.segments) >= 2
    for segment in plan.segments:
        first = segment.boxes[0].box
        assert all(fb.box.iou(first) >= 0.5 for fb in segment.boxes)


def test_short_segments_are_skipped():
    frames, _, _ = moving_scene(n=14, jump=3, blank=None)
    plan = plan_crops(frames, CropOptions(min_frames=5))
    assert [(s.start, s.end) for s in plan.segments] == [(3, 14)]
    assert [(s.start, s.end) for s in plan.skipped] == [(0, 3)]


def test_two_faces_make_two_subjects_largest_first():
    big, small = astronaut(256), astronaut(200)
    frames = []
    for i in range(4):
        image, _, _ = place((300, 520), 256, 250 + i, 30, big)
        image[60:260, 10 + i : 210 + i] = small
        frames.append(image)
    plan = plan_crops(frames)
    assert len(plan.subjects) == 2
    first, second = plan.subjects[0][0], plan.subjects[1][0]
    assert first.crop.center[0] > 250 > second.crop.center[0]  # the bigger face (on the right) first
    assert plan.frame_crops(0) == [first.crop] * 4


def test_tracks_chain_across_a_disappearance():
    tracker = Tracker(CropOptions(max_gap=2))
    scene, _, _ = moving_scene(n=12, jump=99, blank=None)
    blank = np.full_like(scene[0], 100)
    for image in scene[:4] + [blank] * 5 + scene[9:]:
        tracker.update(image)
    tracks = tracker.tracks()
    assert len(tracks) == 2
    assert len(chain_tracks(tracks)) == 1


def test_bad_options_are_refused():
    with pytest.raises(CropError, match="target"):
        CropOptions(target="dog")
    with pytest.raises(CropError, match="margin"):
        CropOptions(margin=-1)
    with pytest.raises(CropError, match="no frames"):
        plan_crops([])


def test_framing_is_square_inside_the_frame_and_grows_with_margin():
    box = Box(300, 10, 50, 80)
    tight, loose = CropOptions(margin=0.1), CropOptions(margin=0.5)
    a, b = tight.crop_box(box, 400, 300), loose.crop_box(box, 400, 300)
    assert a.w == a.h and b.w == b.h and b.w > a.w
    assert a.x + a.w <= 400 and a.y >= 0  # moved inside, not clipped to a non-square
