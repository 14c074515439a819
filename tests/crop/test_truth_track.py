"""Tracking and segmenting, against values worked out by hand from the rules in fomm/crop/track.py's
docstring (issue 30): which detection joins which track, gaps filled linearly in centre and in log-size,
tracks chained by appearance then recency then size, segments cut where the crop can no longer hold the
subject and labelled why, the crop's side between a still's framing and ``max_zoom`` of it. A scripted
detector stands in for the real one, so every box is known exactly. Fast unit tests for the crop
package's mutation run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from fomm.crop import Box, CropError
from fomm.crop.box import frame_box
from fomm.crop.image import square_pixels
from fomm.crop.track import (
    APPEARANCE_SIDE,
    CropOptions,
    CropPlan,
    FrameBox,
    Segment,
    Track,
    Tracker,
    _affinity,
    _finish,
    _Open,
    appearance,
    appearance_distance,
    chain_tracks,
    detect_near,
    iter_crops,
    plan_crops,
    segment_crop,
    split_segments,
    track_video,
)

MARGIN = 0.6  # the face framing's margin (FRAMING["face"]): a still's crop is 2.2 times the box


# --------------------------------------------------------------------------------- which box joins which
def test_overlapping_boxes_score_one_plus_their_iou():
    assert _affinity(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(1 + 50 / 150)
    assert _affinity(Box(0, 0, 10, 10), Box(8, 0, 10, 10)) == pytest.approx(1 + 20 / 180)  # IoU 0.11 > 0.1


def test_a_fast_move_scores_by_its_centre_distance_within_half_the_box():
    # tall boxes 4 px apart side by side: no overlap, centres 4 < 10 / 2 apart: 1 - 4 / 10
    assert _affinity(Box(0, 0, 2, 10), Box(4, 0, 2, 10)) == pytest.approx(0.6)
    assert _affinity(Box(0, 0, 2, 10), Box(5, 0, 2, 10)) == 0.0  # half the size exactly: too far
    assert _affinity(Box(0, 0, 10, 10), Box(9, 0, 10, 10)) == 0.0  # IoU 0.05, centres 9 apart


@pytest.mark.parametrize(("height", "score"), [(19.8, 0.6), (20.0, 0.0), (5.2, 0.6), (5.0, 0.0)])
def test_a_fast_move_must_keep_the_area_within_half_to_twice(height, score):
    """The area ratio must lie strictly between 0.5 and 2: a 2x10 box and one 4 px to its right, centred
    at the same height, ``height`` tall (ratio height / 10)."""
    previous, moved = Box(0, 0, 2, 10), Box(4, 5 - height / 2, 2, height)
    assert previous.iou(moved) == 0
    assert _affinity(previous, moved) == pytest.approx(score)


def test_an_empty_previous_box_matches_nothing_by_distance():
    assert _affinity(Box(0, 0, 0, 10), Box(1, 0, 2, 10)) == 0.0


# -------------------------------------------------------------------------------------- finishing a track
def _open(detections: dict[int, Box], rolls: dict[int, float] | None = None, looks=()) -> _Open:
    frames = sorted(detections)
    raw = _Open(7, frames[0], detections[frames[0]])
    raw.detections = dict(detections)
    raw.rolls = dict(rolls or {})
    raw.looks = list(looks)
    return raw


def test_a_gap_is_filled_linearly_in_centre_and_geometrically_in_size():
    """Detected at frames 0 and 4 (centre (10, 20) size 10x20, then centre (30, 60) size 40x80): frame 2 is
    half-way in centre and the geometric mean in size (linear in log-size), undetected, with score 0."""
    first = Box(5, 10, 10, 20, 0.9, landmarks=(1.0,) * 10)
    last = Box(10, 20, 40, 80, 0.8)
    track = _finish(_open({0: first, 4: last}), sigma=0.0)
    assert (track.id, track.start, track.end, len(track)) == (7, 0, 5, 5)
    assert [fb.frame for fb in track.boxes] == [0, 1, 2, 3, 4]
    assert [fb.detected for fb in track.boxes] == [True, False, False, False, True]
    middle = track.boxes[2].box
    assert middle.center == pytest.approx((20, 40))
    assert (middle.w, middle.h) == pytest.approx((20, 40))  # sqrt(10 * 40), sqrt(20 * 80)
    assert track.boxes[1].box.w == pytest.approx(10 * 4 ** 0.25)
    assert [fb.box.score for fb in track.boxes] == [0.9, 0, 0, 0, 0.8]
    assert track.boxes[0].box.landmarks == (1.0,) * 10 and track.boxes[2].box.landmarks is None
    assert (track.boxes[0].box.x, track.boxes[4].box.x) == pytest.approx((5, 10))
    assert track.appearance is None


def test_the_tilt_is_interpolated_between_the_frames_it_was_measured_and_zero_without():
    boxes = {f: Box(0, 0, 10, 10) for f in range(5)}
    tilted = _finish(_open(boxes, rolls={0: 10.0, 4: 30.0}), sigma=0.0)
    assert [fb.box.angle for fb in tilted.boxes] == pytest.approx([10, 15, 20, 25, 30])
    assert [fb.box.angle for fb in _finish(_open(boxes), sigma=0.0).boxes] == [0.0] * 5


def test_a_tracks_appearance_is_the_mean_of_its_looks():
    looks = [np.full((2, 2, 3), 1.0, np.float32), np.full((2, 2, 3), 3.0, np.float32)]
    track = _finish(_open({0: Box(0, 0, 10, 10)}, looks=looks), sigma=0.0)
    assert np.array_equal(track.appearance, np.full((2, 2, 3), 2.0))


def test_smoothing_acts_on_the_boxes_centres_over_time():
    """A centre that jumps 0 -> 30 at frame 5 of 10, smoothed with sigma 2: symmetric about the jump,
    the ends held, sizes untouched (they are constant)."""
    boxes = {f: Box((0 if f < 5 else 30) - 5, 0, 10, 10) for f in range(10)}
    track = _finish(_open(boxes), sigma=2.0)
    x = np.array([fb.box.center[0] for fb in track.boxes])
    assert 0 < x[4] < 15 < x[5] < 30 and x[4] + x[5] == pytest.approx(30)
    assert x[0] == pytest.approx(0, abs=0.5) and x[-1] == pytest.approx(30, abs=0.5)
    assert all(fb.box.w == pytest.approx(10) for fb in track.boxes)


# ------------------------------------------------------------------------------ the tracker, scripted
@dataclass
class Scripted(CropOptions):
    """Options whose detector reads the frame number from the image (every pixel of frame ``f`` is
    ``f``) and returns that frame's scripted boxes; ``calls`` records (frame, full or near, options)."""

    script: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)
    level: bool = False

    def detect(self, image, **options):
        frame = int(image[0, 0, 0])
        full = image.shape[:2] == (240, 320)
        self.calls.append((frame, "full" if full else "near", options))
        return list(self.script.get(frame, [])) if full else []


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((240, 320, 3), f, np.uint8) for f in range(n)]


def _scripted(script: dict, **options) -> Scripted:
    return Scripted(script=script, smooth=0.0, **options)


def test_a_full_detection_runs_when_nothing_is_followed_and_every_full_every_frames(monkeypatch):
    face = Box(100, 80, 60, 60, 0.9)
    options = _scripted({f: [face] for f in range(12)}, full_every=5)
    near = []
    monkeypatch.setattr("fomm.crop.track.detect_near", lambda image, box, opts: near.append(int(image[0, 0, 0]))
                        or [face])
    tracks, count, shape = track_video(_frames(12), options)
    assert (count, shape) == (12, (240, 320))
    assert [f for f, kind, _ in options.calls if kind == "full"] == [0, 5, 10]
    assert near == [1, 2, 3, 4, 6, 7, 8, 9, 11]
    assert options.calls[0][2] == {"thorough": True} and options.calls[1][2] == {"thorough": False}
    assert len(tracks) == 1 and len(tracks[0]) == 12 and all(fb.detected for fb in tracks[0].boxes)


def test_a_subject_gone_from_near_its_box_is_looked_for_in_the_whole_frame(monkeypatch):
    """Frame 3: the face jumped across the frame; the search near its box finds nothing, so a full
    detection runs in that frame and the jumped face starts a new track there."""
    left, right = Box(20, 80, 60, 60, 0.9), Box(240, 80, 60, 60, 0.9)
    options = _scripted({0: [left], 3: [right], 4: [right]}, full_every=100)
    positions = {1: [left], 2: [left], 4: [right], 5: [right]}
    monkeypatch.setattr("fomm.crop.track.detect_near", lambda image, box, opts: [
        b for b in positions.get(int(image[0, 0, 0]), []) if b.iou(box) > 0.5])
    tracks, _, _ = track_video(_frames(6), options)
    assert [f for f, kind, _ in options.calls if kind == "full"] == [0, 3]
    assert [(t.start, t.end) for t in tracks] == [(0, 3), (3, 6)]
    assert tracks[1].boxes[0].box.x == 240


@pytest.mark.parametrize(("gap", "tracks"), [(3, 1), (4, 2)])
def test_a_track_survives_a_gap_of_max_gap_frames_and_ends_after(monkeypatch, gap, tracks):
    """max_gap 3: unseen for 3 frames, the subject's track goes on (the frames filled); for 4, a new
    track starts when it comes back."""
    face = Box(100, 80, 60, 60, 0.9)
    seen = [f for f in range(12) if not 2 <= f < 2 + gap]
    options = _scripted({f: [face] for f in seen}, full_every=1, max_gap=3)
    found, _, _ = track_video(_frames(12), options)
    assert len(found) == tracks
    if tracks == 1:
        assert [fb.detected for fb in found[0].boxes] == [f in seen for f in range(12)]
    else:
        assert [(t.start, t.end) for t in found] == [(0, 2), (2 + gap, 12)]


def test_each_detection_joins_the_track_it_overlaps_most_and_extra_ones_start_tracks():
    a, b = Box(20, 80, 60, 60, 0.9), Box(200, 80, 60, 60, 0.8)
    a2, b2 = a.moved(10, 0), b.moved(-10, 0)
    options = _scripted({0: [a, b], 1: [b2, a2], 2: [b2, a2, Box(120, 10, 30, 30, 0.5)]}, full_every=1)
    tracks, _, _ = track_video(_frames(3), options)
    assert [(t.start, len(t)) for t in tracks] == [(0, 3), (0, 3), (2, 1)]
    assert [fb.box.x for fb in tracks[0].boxes] == pytest.approx([20, 30, 30])
    assert [fb.box.x for fb in tracks[1].boxes] == pytest.approx([200, 190, 190])


def test_an_empty_video_is_refused():
    with pytest.raises(CropError, match="^the video has no frames$"):
        track_video([], _scripted({}))


def test_tracker_counts_frames_and_keeps_their_shape():
    tracker = Tracker(_scripted({}))
    for image in _frames(3):
        assert tracker.update(image) == []
    assert (tracker.frames, tracker.shape, tracker.tracks()) == (3, (240, 320), [])


# --------------------------------------------------------------------------------- the search near a box
@dataclass
class Recording(CropOptions):
    found: list = field(default_factory=list)
    calls: list = field(default_factory=list)

    def detect(self, image, **options):
        self.calls.append((image.shape[:2], options))
        return list(self.found)


def test_the_search_runs_on_the_region_one_box_around_it_scaled_to_a_64px_face():
    """A 100 px face at (200, 150) in a 640x480 frame: the region reaches one face further on every side
    (100..400, 50..350), scaled by 64 / 100 (its 300 px side to 192); faces of 0.6 to 1.6 times the size."""
    options = Recording(found=[Box(90, 95, 100, 100, 0.9), Box(0, 0, 50, 50, 0.9), Box(10, 10, 170, 170, 0.9)])
    found = detect_near(np.zeros((480, 640, 3), np.uint8), Box(200, 150, 100, 100), options)
    (shape, kwargs), = options.calls
    assert shape == (300, 300)
    assert kwargs == {"max_side": 192, "min_size": 60.0, "max_size": 160.0, "thorough": False}
    assert found == [Box(190, 145, 100, 100, 0.9)]  # moved back to frame coordinates; the others refused


def test_the_search_region_stops_at_the_frame_and_people_are_scaled_to_192px():
    options = Recording(target="person")
    detect_near(np.zeros((480, 640, 3), np.uint8), Box(500, 10, 100, 400), options)
    (shape, kwargs), = options.calls
    assert shape == (480, 540)  # x 100 .. 1000 clipped to 100 .. 640, y -390 .. 810 clipped to 0 .. 480
    assert kwargs == {"max_side": round(540 * 192 / 400)}  # no face size bounds for people


@pytest.mark.parametrize("box", [Box(-20, 10, 7, 7), Box(98, 40, 3, 3), Box(40, 98, 3, 3)],
                         ids=["past the left edge", "at the right edge", "at the bottom edge"])
def test_no_search_in_a_region_under_8_px(box):
    """Regions cut by the frame to under 8 px (the last two: 95 .. 100, 5 px) are not searched."""
    options = Recording()
    assert detect_near(np.zeros((100, 100, 3), np.uint8), box, options) == [] and options.calls == []


# --------------------------------------------------------------------------------------------- subjects
def _track(track_id: int, start: int, end: int, side: float = 50.0, look: float | None = 0.0) -> Track:
    boxes = [FrameBox(f, Box(100, 100, side, side, 0.9), True) for f in range(start, end)]
    appearance_ = None if look is None else np.full((APPEARANCE_SIDE, APPEARANCE_SIDE, 3), look, np.float32)
    return Track(track_id, boxes, appearance_)


def test_a_track_after_another_that_looks_alike_continues_its_subject():
    first, later = _track(0, 0, 10), _track(1, 12, 20, look=0.59)  # distance 0.59 < SAME_SUBJECT 0.6
    assert chain_tracks([later, first]) == [[first, later]]


def test_a_track_that_looks_different_or_overlaps_is_another_subject():
    first = _track(0, 0, 10)
    other = _track(1, 12, 20, look=0.61)  # distance 0.61: not below SAME_SUBJECT
    overlapping = _track(2, 9, 15, side=40)
    subjects = chain_tracks([first, other, overlapping])
    assert subjects == [[first], [other], [overlapping]]  # largest first: 50, 50 then 40 px


def test_the_subject_it_continues_is_the_most_alike_then_the_latest_then_the_nearest_in_size():
    def joined(tracks: list[Track]) -> list[int]:
        (subject,) = [s for s in chain_tracks(tracks) if tracks[-1] in s]
        return [t.id for t in subject]

    # more alike (distances rounded to a tenth: 0.3 from 0, 0.0 from 1), though 1 ended earlier
    assert joined([_track(0, 0, 10, look=0.0), _track(1, 0, 8, look=0.3), _track(2, 20, 30, look=0.29)]) == [1, 2]
    # as alike (0.01 from 0 and 0.04 from 1 both round to 0.0): the one that ended later, though 0 is nearer
    assert joined([_track(0, 0, 8, look=0.0), _track(1, 0, 10, look=0.05), _track(2, 20, 30, look=0.01)]) == [1, 2]
    # as alike and ended together: the nearer in size (75 px: 80 rather than 50)
    assert joined([_track(0, 0, 10, side=50), _track(1, 0, 10, side=80), _track(2, 20, 30, side=75)]) == [1, 2]


def test_a_track_without_appearance_may_continue_any_subject():
    first, later = _track(0, 0, 10, look=None), _track(1, 12, 20, look=5.0)
    assert chain_tracks([first, later]) == [[first, later]]
    assert appearance_distance(None, np.ones(3)) == 0.0 and appearance_distance(np.ones(3), np.zeros(3)) == 1.0


def test_subjects_are_ranked_by_the_median_area_of_all_their_boxes():
    small_long = [_track(0, 0, 10, side=40), _track(1, 10, 40, side=40)]
    big = _track(2, 0, 5, side=45, look=9.0)
    assert chain_tracks(small_long + [big]) == [[big], small_long]


def test_appearance_is_a_standardized_thumbnail_of_the_boxes_centre():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 200, (100, 100, 3)).astype(np.uint8)
    box = Box(20, 20, 50, 50)
    look = appearance(image, box)
    assert look.shape == (APPEARANCE_SIDE, APPEARANCE_SIDE, 3) and look.dtype == np.float32
    assert np.allclose(look.mean(axis=(0, 1)), 0, atol=1e-5) and look.std() == pytest.approx(1, abs=1e-3)
    brighter = np.clip(image.astype(np.float32) * 1.2 + 10, 0, 255).astype(np.uint8)
    assert appearance_distance(look, appearance(brighter, box)) < 0.02  # exposure is not identity
    outside = image.copy()
    outside[:25], outside[65:], outside[:, :25], outside[:, 65:] = 0, 0, 0, 0  # only the central 0.8 is read
    assert np.array_equal(appearance(outside, box), look)
    gray = image[..., 0]
    assert np.allclose(appearance(gray, box), appearance(np.dstack([gray] * 3), box))
    assert not appearance(image, Box(99.5, 50, 1, 1)).any()  # under 2 px: no look


# --------------------------------------------------------------------------------------------- segments
def _boxes(centres: list[float], side: float = 100.0, start: int = 0) -> list[FrameBox]:
    return [FrameBox(start + i, Box(x - side / 2, 300 - side / 2, side, side, 0.9), True)
            for i, x in enumerate(centres)]


def test_a_still_subject_gets_a_stills_framing_and_a_moving_one_its_tube_over_0_8():
    options = CropOptions(level=False)
    still = segment_crop(_boxes([400] * 5), 1280, 720, options)
    assert still == square_pixels(frame_box(Box(350, 250, 100, 100, 0.9), MARGIN, 1280, 720, 0.05))
    # moved 120 px: the tube is 220 px wide, so the crop's side is 220 / 0.8 = 275 (< 1.5 * 220 = 330)
    moving = segment_crop(_boxes([340, 400, 460]), 1280, 720, options)
    assert moving.w == 275
    assert moving.center[0] == pytest.approx(400, abs=0.5)
    # moved 300 px: 400 / 0.8 = 500 is over 1.5 * 220 = 330, so the crop stays at 330
    assert segment_crop(_boxes([250, 550]), 1280, 720, options).w == 330


def test_a_segments_crop_is_turned_by_its_median_tilt():
    boxes = [FrameBox(i, Box(350, 250, 100, 100, 0.9, angle=a), True) for i, a in enumerate([14.0, 20.0, 30.0])]
    assert segment_crop(boxes, 1280, 720, CropOptions()).angle == 20.0
    assert segment_crop(boxes, 1280, 720, CropOptions(level=False)).angle == 0.0


def test_the_original_rule_frames_the_tube_itself():
    options = CropOptions(iou_threshold=0.25, level=False)
    boxes = _boxes([340, 460])
    assert segment_crop(boxes, 1280, 720, options) == options.crop_box(Box(290, 250, 220, 100, 0.9), 1280, 720)


def _subject(*tracks: list[FrameBox]) -> list[Track]:
    return [Track(i, boxes) for i, boxes in enumerate(tracks)]


def test_a_segment_holds_the_subject_until_its_tube_passes_0_8_of_the_largest_crop():
    """The largest crop for a 100 px face is 1.5 * 220 = 330 px; the boxes may fill 0.8 of it: 264 px. A
    tube 264 px wide is held, 265 px is not (a new segment, cut "moved")."""
    options = CropOptions(level=False)
    held = split_segments(_subject(_boxes([400, 400 + 164])), 0, 1280, 720, options, 2)
    assert [(s.start, s.end, s.cut) for s in held] == [(0, 2, "end")]
    cut = split_segments(_subject(_boxes([400, 400 + 165])), 0, 1280, 720, options, 2)
    assert [(s.start, s.end, s.cut) for s in cut] == [(0, 1, "moved"), (1, 2, "end")]
    assert all(isinstance(s, Segment) and s.subject == 0 for s in cut)
    assert [len(s) for s in cut] == [1, 1] and len(held[0]) == 2


def test_a_tube_exactly_as_wide_as_the_hold_is_held():
    """margin 0.5, max_zoom 1.25: the largest crop is 100 * 2 * 1.25 = 250 px, and 0.8 of it 200 px (exact
    in binary): a tube of exactly 200 px is held."""
    options = CropOptions(level=False, margin=0.5, max_zoom=1.25)
    assert [s.cut for s in split_segments(_subject(_boxes([400, 500])), 0, 1280, 720, options, 2)] == ["end"]
    assert [s.cut for s in split_segments(_subject(_boxes([400, 501])), 0, 1280, 720, options, 2)] == ["moved", "end"]


def test_the_original_rule_holds_at_the_threshold_and_cuts_below_it():
    options = CropOptions(iou_threshold=0.6, level=False)
    at = split_segments(_subject(_boxes([400, 425])), 0, 1280, 720, options, 2)  # IoU 7500 / 12500 = 0.6
    assert [s.cut for s in at] == ["end"]
    options = CropOptions(iou_threshold=0.5, level=False)
    # 100 px boxes shifted by 33 px: IoU 67 / 133 = 0.504 is held; by 34 px: 66 / 134 = 0.493 is cut
    held = split_segments(_subject(_boxes([400, 433])), 0, 1280, 720, options, 2)
    cut = split_segments(_subject(_boxes([400, 434])), 0, 1280, 720, options, 2)
    assert [s.cut for s in held] == ["end"] and [s.cut for s in cut] == ["iou", "end"]


@pytest.mark.parametrize(("next_start", "cut"), [(14, "jump"), (15, "lost")])
def test_a_track_followed_within_max_gap_frames_jumped_and_later_was_lost(next_start, cut):
    """max_gap 3: the first track ends at 10 (one past its last frame); the next starting 4 frames later
    (within max_gap + 1) means the subject jumped; 5 frames later it had left."""
    options = CropOptions(level=False, max_gap=3)
    subject = _subject(_boxes([400] * 10), _boxes([400] * 5, start=next_start))
    segments = split_segments(subject, 2, 1280, 720, options, 40)
    assert [(s.subject, s.start, s.end, s.cut) for s in segments] == [(2, 0, 10, cut), (2, next_start, next_start + 5,
                                                                                        "lost")]


def test_a_track_to_the_last_frame_ends_with_the_video():
    options = CropOptions(level=False)
    assert split_segments(_subject(_boxes([400] * 10)), 0, 1280, 720, options, 10)[0].cut == "end"
    assert split_segments(_subject(_boxes([400] * 10)), 0, 1280, 720, options, 11)[0].cut == "lost"
    assert split_segments(_subject(_boxes([400] * 10)), 0, 1280, 720, options)[0].cut == "lost"


# ------------------------------------------------------------------------------------------------ plans
def test_plan_keeps_long_segments_renumbers_subjects_and_marks_the_rest_skipped(caplog):
    """Three faces, largest first: A (frames 0-9), B (frames 0-1: shorter than min_frames 9), C (frames
    1-9: it overlaps B in time, so it is another subject). B has no segment kept, so C becomes subject 1,
    and B's segment is skipped with subject -1."""
    a, b, c = Box(20, 80, 80, 80, 0.9), Box(140, 80, 70, 70, 0.9), Box(240, 80, 50, 50, 0.9)
    script = {f: [a] + ([b] if f < 2 else []) + ([c] if f >= 1 else []) for f in range(10)}
    options = _scripted(script, full_every=1, min_frames=9, max_gap=0)  # C's 9 frames: just enough
    with caplog.at_level(logging.INFO, logger="fomm.crop.track"):
        plan = plan_crops(_frames(10), options)
    assert caplog.messages == ["10 frames: 3 tracks, 2 subjects, 2 segments kept, 1 skipped"]
    assert isinstance(plan, CropPlan) and (plan.num_frames, plan.shape) == (10, (240, 320))
    assert [[(s.subject, s.start, s.end) for s in subject] for subject in plan.subjects] == [[(0, 0, 10)], [(1, 1, 10)]]
    assert [(s.subject, s.start, s.end) for s in plan.skipped] == [(-1, 0, 2)]
    assert plan.segments == [plan.subjects[0][0], plan.subjects[1][0]]
    crops = plan.frame_crops(1)
    assert crops[:1] == [None] and crops[1:] == [plan.subjects[1][0].crop] * 9
    assert plan.frame_crops(0) == [plan.subjects[0][0].crop] * 10
    assert plan.frame_crops(2) == [None] * 10  # no such subject: no crops


def test_crops_are_cut_for_framed_frames_only_and_stop_with_the_shorter_input():
    frames = [np.full((40, 60, 3), v, np.uint8) for v in (10, 20, 30)]
    crops = list(iter_crops(frames, [Box(0, 0, 20, 20), None, Box(10, 10, 20, 20), Box(0, 0, 5, 5)], 8))
    assert len(crops) == 3 and crops[1] is None
    assert crops[0].shape == (8, 8, 3) and (crops[0] == 10).all() and (crops[2] == 30).all()
    assert list(iter_crops(frames, [None], 8)) == [None]


@pytest.mark.parametrize("edge", ["left", "top"])
def test_a_segment_at_the_frames_edge_gets_a_crop_moved_inside_it(edge):
    """A still face whose still's crop would reach 70 px past the frame's left (or top) edge: the
    segment's crop is moved inside, its side kept, in both of the segment rules."""
    centre = (40, 300) if edge == "left" else (400, 40)
    boxes = [FrameBox(i, Box(centre[0] - 50, centre[1] - 50, 100, 100, 0.9), True) for i in range(3)]
    for options in (CropOptions(level=False), CropOptions(level=False, iou_threshold=0.25)):
        (segment,) = split_segments([Track(0, boxes)], 0, 1280, 720, options, 3)
        free = options.crop_box(Box(centre[0] - 50, centre[1] - 50, 100, 100, 0.9), 10 ** 6, 10 ** 6)
        assert segment.crop.w == free.w and 0 <= segment.crop.x and 0 <= segment.crop.y
        assert (segment.crop.x if edge == "left" else segment.crop.y) == 0
        assert segment.crop.right <= 1280 and segment.crop.bottom <= 720


def test_a_plan_frames_its_segments_inside_the_video():
    """The scripted 320x240 frames with a 60 px face at the left edge: its 132 px crop starts at 0."""
    face = Box(0, 60, 60, 60, 0.9)
    (segment,) = plan_crops(_frames(3), _scripted({f: [face] for f in range(3)}, full_every=1)).segments
    assert (segment.crop.x, segment.crop.w) == (0, 132) and segment.crop.bottom <= 240


def test_the_search_starts_at_the_frames_edge_and_runs_in_a_region_of_8_px():
    options = Recording()
    detect_near(np.zeros((100, 100, 3), np.uint8), Box(3, 3, 10, 10), options)
    assert options.calls[-1][0] == (23, 23)  # from 0 (not 1), to 3 + 10 + 10
    detect_near(np.zeros((100, 100, 3), np.uint8), Box(-8, -8, 8, 8), options)
    assert options.calls[-1][0] == (8, 8)  # 8 px: searched


# ------------------------------------------------------------------------- the tracker's bookkeeping
@dataclass
class Tilted(Scripted):
    """Scripted options that level faces: the scripted box's angle stands for the measured tilt."""

    level: bool = True

    def level_boxes(self, image, boxes):
        return list(boxes)


def _patterned(n: int, seed: int = 0) -> list[np.ndarray]:
    """Frames of noise (so each has its own appearance) whose first pixel is the frame number."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 250, (240, 320, 3)).astype(np.uint8) for _ in range(n)]
    for f, frame in enumerate(frames):
        frame[0, 0, 0] = f
    return frames


def test_tilt_and_appearance_are_taken_from_full_detections_only(monkeypatch):
    """Full detections (frames 0, 4, 8) measure a 20 degree tilt; the searches near the box in between
    measure nothing (their boxes say 0): every frame's tilt is 20, and the track's look is the mean of
    the three full frames' looks."""
    face = Box(100, 80, 60, 60, 0.9, angle=20.0)
    options = Tilted(script={f: [face] for f in range(9)}, smooth=0.0, full_every=4)
    monkeypatch.setattr("fomm.crop.track.detect_near", lambda image, box, opts: [replace(face, angle=0.0)])
    frames = _patterned(9)
    (track,), _, _ = track_video(frames, options)
    assert [fb.box.angle for fb in track.boxes] == pytest.approx([20.0] * 9)
    expected = np.mean([appearance(frames[f], face) for f in (0, 4, 8)], axis=0)
    assert np.allclose(track.appearance, expected)


def test_in_a_jump_frame_the_full_detection_adds_only_the_subjects_not_already_found(monkeypatch):
    """Frame 2: A is found near its box (x 30), B is not: the full detection that follows finds A again
    (x 31) and B jumped. A keeps the near box (no second track, no overwrite); B's new track has its
    tilt measured and its look taken."""
    a, b = Box(20, 80, 60, 60, 0.9, angle=15.0), Box(200, 80, 60, 60, 0.9, angle=15.0)
    jumped = Box(240, 150, 60, 60, 0.9, angle=25.0)
    options = Tilted(script={0: [a, b], 2: [a.moved(11, 0), jumped]}, smooth=0.0, full_every=100)
    near = {1: [a.moved(5, 0), b.moved(5, 0)], 2: [a.moved(10, 0)]}
    monkeypatch.setattr("fomm.crop.track.detect_near", lambda image, box, opts: [
        x for x in near.get(int(image[0, 0, 0]), []) if x.iou(box) > 0.5])
    tracks, _, _ = track_video(_patterned(3), options)
    assert [f for f, kind, _ in options.calls if kind == "full"] == [0, 2]
    assert [(t.id, t.start, t.end) for t in tracks] == [(0, 0, 3), (1, 0, 2), (2, 2, 3)]
    assert tracks[0].boxes[2].box.x == pytest.approx(30)
    assert tracks[2].boxes[0].box.angle == pytest.approx(25) and tracks[2].appearance is not None


def test_every_open_track_is_searched_near_its_box(monkeypatch):
    a, b = Box(20, 80, 60, 60, 0.9), Box(200, 80, 60, 60, 0.9)
    options = _scripted({0: [a, b]}, full_every=100)
    monkeypatch.setattr("fomm.crop.track.detect_near", lambda image, box, opts: [box])
    tracks, _, _ = track_video(_frames(4), options)
    assert [f for f, kind, _ in options.calls if kind == "full"] == [0]  # both found near: no full look
    assert [len(t) for t in tracks] == [4, 4]


def test_a_fast_move_without_overlap_continues_the_track():
    """A tall box moving 40 px (no overlap; centres 40 < 100 / 2 apart): affinity 0.6, still the track."""
    options = _scripted({0: [Box(100, 50, 20, 100, 0.9)], 1: [Box(140, 50, 20, 100, 0.9)]}, full_every=1)
    tracks, _, _ = track_video(_frames(2), options)
    assert [len(t) for t in tracks] == [2]


def test_matching_is_greedy_best_score_first_one_box_per_track_and_one_track_per_box():
    """Tracks A (x 0) and B (x 60), 100 px. Frame 1: X1 (x 20) overlaps A by IoU 0.67 and B by 0.43,
    X2 (x 120) overlaps B by 0.25. Best first: X1 joins A; X1-B is skipped (X1 is taken), and X2 still
    joins B. A third box Y (x -30) overlapping only A (IoU 0.54, but A has X1) starts a new track."""
    a, b = Box(0, 0, 100, 100, 0.9), Box(60, 0, 100, 100, 0.8)
    x1, x2, y = Box(20, 0, 100, 100, 0.9), Box(120, 0, 100, 100, 0.9), Box(-30, 0, 100, 100, 0.5)
    options = _scripted({0: [a, b], 1: [x2, x1, y]}, full_every=1)
    tracks, _, _ = track_video(_frames(2), options)
    assert [(t.id, t.start, t.end) for t in tracks] == [(0, 0, 2), (1, 0, 2), (2, 1, 2)]
    assert [fb.box.x for fb in tracks[0].boxes] == pytest.approx([0, 20])
    assert [fb.box.x for fb in tracks[1].boxes] == pytest.approx([60, 120])
    assert tracks[2].boxes[0].box.x == pytest.approx(-30)


def test_a_look_exactly_at_the_threshold_is_another_subject():
    """Looks of one number each: distance exactly SAME_SUBJECT (0.6) is not below it."""
    first, later = _track(0, 0, 10), _track(1, 12, 20)
    first.appearance, later.appearance = np.array([0.0]), np.array([0.6])
    assert len(chain_tracks([first, later])) == 2
    later.appearance = np.array([0.5999])
    assert len(chain_tracks([first, later])) == 1


def test_appearance_reads_the_frame_from_its_edge():
    """A box centred at (4, 4), 20 px: its central 0.8 (16 px) is cut at the frame's edge, so it reads
    rows and columns 0 to 11 and nothing beyond."""
    image = np.random.default_rng(1).integers(0, 250, (60, 60, 3)).astype(np.uint8)
    box = Box(-6, -6, 20, 20)
    look = appearance(image, box)
    for rows, cols in ((slice(0, 1), slice(None)), (slice(None), slice(0, 1))):
        changed = image.copy()
        changed[rows, cols] = 255 - changed[rows, cols]
        assert not np.allclose(appearance(changed, box), look)
    beyond = image.copy()
    beyond[12:], beyond[:, 12:] = 0, 0
    assert np.array_equal(appearance(beyond, box), look)


def test_frame_crops_default_to_the_largest_subject():
    subjects = [[Segment(0, 0, 1, Box(0, 0, 10, 10), [])], [Segment(1, 1, 2, Box(5, 5, 10, 10), [])]]
    plan = CropPlan(2, (240, 320), subjects, [], CropOptions())
    assert plan.frame_crops() == [Box(0, 0, 10, 10), None]


def test_the_search_keeps_faces_of_exactly_0_6_and_1_6_times_the_size():
    options = Recording(found=[Box(0, 0, 60, 50, 0.9), Box(0, 0, 160, 150, 0.9), Box(0, 0, 59.9, 40, 0.9),
                               Box(0, 0, 160.1, 100, 0.9)])
    found = detect_near(np.zeros((480, 640, 3), np.uint8), Box(200, 150, 100, 100), options)
    assert [b.w for b in found] == [60, 160]


def test_the_search_never_enlarges_and_stops_at_16_px():
    options = Recording()
    detect_near(np.zeros((480, 640, 3), np.uint8), Box(200, 150, 40, 40), options)  # a 40 px face: 64 / 40 > 1
    assert options.calls[-1][1]["max_side"] == 120  # the 120 px region as it is
    people = Recording(target="person")
    detect_near(np.zeros((30, 30, 3), np.uint8), Box(10, 0, 10, 400), people)  # 30 px * 192 / 400 = 14
    assert people.calls[-1][1] == {"max_side": 16}


def test_appearance_averages_blocks_and_standardizes_with_a_small_floor():
    """A 24 px region (box side 30 at the centre) shrinks to 12x12 by 2x2 block means; values one level
    apart (std 0.5) are divided by 0.5 + 0.001."""
    image = np.full((100, 100, 3), 100, np.uint8)
    image[38:62, 38:62][::2, ::2] = 102  # one pixel of each 2x2 block: every block's mean is 100.5
    image[38:50, 38:62] += 1  # the top half one level up: block means 101.5 and 100.5
    look = appearance(image, Box(35, 35, 30, 30))
    assert look[:6, :, 0] == pytest.approx(np.full((6, 12), 0.5 / 0.501), rel=1e-4)
    assert look[6:, :, 0] == pytest.approx(np.full((6, 12), -0.5 / 0.501), rel=1e-4)


def test_appearance_of_a_region_under_2_px_wide_is_none_but_2_px_is_read():
    image = np.random.default_rng(2).integers(0, 250, (100, 100, 3)).astype(np.uint8)
    none = appearance(image, Box(98, 40, 10, 10))  # centre 103, half 4: columns 99 .. 100, 1 px, 8 rows
    assert none.shape == (APPEARANCE_SIDE, APPEARANCE_SIDE, 3) and none.dtype == np.float32 and not none.any()
    assert not appearance(image, Box(40, 98, 10, 10)).any()
    assert appearance(image, Box(97, 40, 10, 10)).any()  # centre 102: columns 98 .. 100, 2 px
    assert appearance(image, Box(40, 97, 10, 10)).any()


def test_appearance_shrinks_by_area_not_by_sampling():
    """A 36 px region to 12 px: each 3x3 block's mean. Only each block's corner pixel is raised (+9), so
    the means are all one level up on the left half, none on the right; sampling the blocks' centres
    would see no change at all."""
    image = np.full((100, 100, 3), 100, np.uint8)
    image[32:68, 32:50][::3, ::3] += 9  # the left half of the region: block means 101
    look = appearance(image, Box(27.5, 27.5, 45, 45))  # centre 50, half 18: 32 .. 68
    assert look[:, :6, 0] == pytest.approx(np.full((12, 6), 0.5 / 0.501), rel=1e-3)
    assert look[:, 6:, 0] == pytest.approx(np.full((12, 6), -0.5 / 0.501), rel=1e-3)


def test_a_sliver_inside_a_box_with_iou_exactly_a_tenth_is_not_an_overlap_match():
    """A 1x10 sliver inside a 10x10 box: IoU 10 / 100 = 0.1, not above the 0.1 threshold; and its area is a
    tenth, outside the distance rule's 0.5-2: no match."""
    assert _affinity(Box(0, 0, 10, 10), Box(0, 0, 1, 10)) == 0.0


def test_a_segment_cut_because_the_subject_moved_is_framed_inside_the_video():
    """A face in the top left corner moving right beyond what one crop holds: the first segment (cut "moved")
    has its crop moved inside the frame too."""
    boxes = [FrameBox(i, Box(x - 50, -10, 100, 100, 0.9), True) for i, x in enumerate([40, 40 + 165])]
    first, _ = split_segments(_subject(boxes), 0, 1280, 720, CropOptions(level=False), 2)
    assert first.cut == "moved" and (first.crop.x, first.crop.y) == (0, 0)
