"""Segments follow a real shot: one fixed crop planned from the subject's whole track, cut only where
the subject jumps, disappears or moves further than one crop can hold, each cut with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.crop import Box, CropError
from fomm.crop.track import CUTS, CropOptions, FrameBox, Track, plan_crops, split_segments

from .scenes import moving_frames

WIDTH, HEIGHT = 1280, 720


def drifting_track(frames: int, distance: float, face: float = 100.0, start: int = 0, x: float = 300.0) -> Track:
    """A face of ``face`` px drifting right by ``distance`` px over ``frames`` frames, steadily."""
    step = distance / max(frames - 1, 1)
    boxes = [FrameBox(start + i, Box(x + i * step, 200, face, face, 1.0), True) for i in range(frames)]
    return Track(0, boxes)


def test_a_slow_drift_by_one_face_width_is_one_segment_holding_every_box():
    track = drifting_track(150, 100.0)  # six seconds at 25 fps, one face width
    segments = split_segments([track], 0, WIDTH, HEIGHT, CropOptions(), num_frames=150)
    assert [(s.start, s.end, s.cut) for s in segments] == [(0, 150, "end")]
    crop = segments[0].crop
    for fb in track.boxes:  # the whole face stays inside the one crop
        assert crop.x <= fb.box.x and fb.box.right <= crop.right and crop.y <= fb.box.y
    assert crop.w <= CropOptions().max_zoom * 2.2 * 100 + 1  # within the size limit


def test_the_original_iou_rule_cut_the_same_drift_into_pieces():
    track = drifting_track(150, 100.0)
    segments = split_segments([track], 0, WIDTH, HEIGHT, CropOptions(iou_threshold=0.25), num_frames=150)
    assert len(segments) >= 2 and segments[0].cut == "iou"


def test_a_drift_no_crop_can_hold_is_cut_where_it_outgrows_the_crop():
    track = drifting_track(100, 600.0)  # six face widths
    segments = split_segments([track], 0, WIDTH, HEIGHT, CropOptions(), num_frames=100)
    assert len(segments) >= 2
    assert [s.cut for s in segments] == ["moved"] * (len(segments) - 1) + ["end"]
    assert [s.start for s in segments[1:]] == [s.end for s in segments[:-1]]  # no frame lost
    for segment in segments:
        for fb in segment.boxes:
            assert segment.crop.contains(*fb.box.center)


def test_a_still_face_gets_a_stills_framing():
    track = drifting_track(30, 0.0)
    (segment,) = split_segments([track], 0, WIDTH, HEIGHT, CropOptions(), num_frames=30)
    still = CropOptions().crop_box(track.boxes[0].box, WIDTH, HEIGHT)
    assert segment.crop == still


def test_cuts_say_whether_the_subject_jumped_or_was_lost():
    first, jumped, back = drifting_track(10, 0), drifting_track(10, 0, start=10, x=800), drifting_track(5, 0, start=60)
    segments = split_segments([first, jumped, back], 0, WIDTH, HEIGHT, CropOptions(max_gap=15), num_frames=100)
    assert [s.cut for s in segments] == ["jump", "lost", "lost"]
    assert set(CUTS) >= {s.cut for s in segments}


def test_a_tracked_clip_is_cut_at_the_jump_only():
    frames, centers, _ = moving_frames(14, jump=8, blank=None)
    plan = plan_crops(frames, CropOptions())
    assert [(s.start, s.end, s.cut) for s in plan.segments] == [(0, 8, "jump"), (8, 14, "end")]
    for segment in plan.segments:
        assert all(segment.crop.contains(*centers[f]) for f in range(segment.start, segment.end))


def test_bad_zoom_is_refused():
    with pytest.raises(CropError, match="max_zoom"):
        CropOptions(max_zoom=0.5)


def test_faces_that_leave_and_come_back_swapped_keep_their_identity():
    """Two faces leave together and come back at each other's places and each at the other's size: only
    their looks tell who is who."""
    from PIL import Image

    from .scenes import photo

    def sized(name: str, side: int) -> np.ndarray:
        image = np.asarray(Image.fromarray(photo(name)).resize((side, side), Image.Resampling.LANCZOS))
        return image[:200, (side - 200) // 2 : (side - 200) // 2 + 200]

    astronaut, camera = sized("astronaut", 230), sized("camera", 200)  # boxes of about 45 and 32 px
    small_astronaut, large_camera = sized("astronaut", 200), sized("camera", 320)  # about 40 and 45 px

    def frame(left: np.ndarray, right: np.ndarray, dx: int) -> np.ndarray:
        image = np.full((260, 460, 3), 90, np.uint8)
        image[30 : 30 + left.shape[0], 20 + dx : 20 + dx + left.shape[1]] = left
        image[30 : 30 + right.shape[0], 240 : 240 + right.shape[1]] = right
        return image

    blank = np.full((260, 460, 3), 90, np.uint8)
    frames = [frame(astronaut, camera, i) for i in range(3)] + [blank] * 4 + \
        [frame(large_camera, small_astronaut, i) for i in range(3)]
    plan = plan_crops(frames, CropOptions(max_gap=1))
    assert len(plan.subjects) == 2
    for subject in plan.subjects:
        assert [(s.start, s.end) for s in subject] == [(0, 3), (7, 10)]
        before, after = (s.crop.center[0] < 230 for s in subject)
        assert before != after  # the face that was on the left is on the right after the gap, and vice versa
