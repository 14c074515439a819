"""Cutting a video's segments into clips and recording every frame's box (fomm/crop/clips.py), against
what was built (issue 30): frames that carry their own index in their pixels, so each clip is known to
hold exactly its segment's frames cut at its crop; writers that record what they were given; JSON
records whose numbers are those of the boxes made by hand. Fast unit tests for the mutation run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fomm.crop.box import Box, CropError
from fomm.crop.clips import image_record, numbered, video_record, write_segment_clips
from fomm.crop.options import CropOptions
from fomm.crop.subjects import Subject
from fomm.crop.track import CropPlan, FrameBox, Segment

SIDE = 16


def frame(index: int) -> np.ndarray:
    """A 48x64 frame whose left half is ``index`` and right half ``100 + index``: a crop tells which frame
    and which half it was cut from."""
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = index
    image[:, 32:] = 100 + index
    return image


LEFT, RIGHT = Box(4, 8, SIDE, SIDE), Box(40, 8, SIDE, SIDE)


class Writer:
    def __init__(self):
        self.frames, self.closed, self.aborted = [], False, False

    def write(self, image):
        assert not self.closed, "written after close"
        self.frames.append(int(image[0, 0, 0]))

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = not self.closed


def segment(start: int, end: int, crop: Box = LEFT, subject: int = 0) -> Segment:
    return Segment(subject, start, end, crop, [FrameBox(f, crop, True) for f in range(start, end)])


def test_each_clip_holds_exactly_its_segments_frames_cut_at_its_crop():
    segments = [segment(3, 6, RIGHT), segment(0, 4, LEFT), segment(5, 7, LEFT, subject=1)]
    writers = [Writer(), Writer(), Writer()]
    progress = []
    read = write_segment_clips((frame(i) for i in range(10)), segments, writers, SIDE, progress.append)
    assert read == 7  # the frames after the last segment's end are not read
    assert [w.frames for w in writers] == [[103, 104, 105], [0, 1, 2, 3], [5, 6]]
    assert all(w.closed and not w.aborted for w in writers) and progress == [1] * 7


def test_a_clip_is_published_as_its_segment_ends_not_at_the_end_of_the_video():
    segments, writers = [segment(0, 2), segment(1, 5)], [Writer(), Writer()]
    seen = []

    def frames():
        for i in range(5):
            seen.append((i, writers[0].closed, writers[1].closed))
            yield frame(i)

    write_segment_clips(frames(), segments, writers, SIDE)
    assert seen == [(0, False, False), (1, False, False), (2, True, False), (3, True, False), (4, True, False)]


def test_crops_are_scaled_to_the_size_asked():
    class Sizes(Writer):
        def write(self, image):
            self.frames.append(image.shape)

    writer = Sizes()
    write_segment_clips([frame(0)], [segment(0, 1)], [writer], 8)
    assert writer.frames == [(8, 8, 3)]


def test_a_video_shorter_than_its_plan_leaves_no_clip_half_written():
    segments, writers = [segment(0, 2), segment(1, 6)], [Writer(), Writer()]
    with pytest.raises(CropError) as caught:
        write_segment_clips([frame(i) for i in range(4)], segments, writers, SIDE)
    assert str(caught.value) == ("the video ended at frame 4, before its clips were complete; is it still being "
                                 "written?")
    assert writers[0].closed and not writers[0].aborted  # the complete one stays
    assert writers[1].aborted and not writers[1].closed
    with pytest.raises(CropError, match="ended at frame 0"):
        write_segment_clips([], [segment(0, 1)], [Writer()], SIDE)


def test_an_error_while_reading_aborts_every_unfinished_clip():
    segments, writers = [segment(0, 1), segment(0, 3)], [Writer(), Writer()]

    def frames():
        yield frame(0)
        yield frame(1)
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="went away"):
        write_segment_clips(frames(), segments, writers, SIDE)
    assert (writers[0].closed, writers[0].aborted, writers[1].closed, writers[1].aborted) == (True, False, False, True)
    assert writers[1].frames == [0, 1]


def test_no_segments_reads_nothing_and_one_writer_per_segment_is_required():
    assert write_segment_clips([frame(0), frame(1)], [], [], SIDE) == 1  # stops after the first: nothing to cut
    with pytest.raises(ValueError) as caught:
        write_segment_clips([frame(0)], [segment(0, 1)], [], SIDE)
    assert str(caught.value) == "one writer per segment"


def test_a_photo_record_needs_one_output_per_subject():
    subject = Subject(Box(1, 2, 3, 4), Box(0, 0, 8, 8))
    with pytest.raises(ValueError):
        image_record("in.png", np.zeros((8, 8, 3), np.uint8), [subject], ["a.png", "b.png"], CropOptions())


def test_outputs_are_numbered_from_the_given_name():
    assert numbered(Path("out/clip.mp4"), 0) == Path("out/clip-000.mp4")
    assert numbered(Path("clip.mp4"), 12, ".png") == Path("clip-012.png")
    assert numbered(Path("faces"), 1234) == Path("faces-1234")


def test_a_photos_record_names_each_subjects_box_and_crop():
    options = CropOptions(size=128)
    subjects = [Subject(Box(10.123, 20.456, 30.456, 40.789, score=0.98765), Box(0, 5, 60, 60)),
                Subject(Box(100, 20, 10, 10, score=0.5), Box(90, 10, 30, 30))]
    record = image_record("in.png", np.zeros((48, 160, 3), np.uint8), subjects, ["a.png", None], options)
    assert record == {
        "input": "in.png", "width": 160, "height": 48, "num_frames": 1, "target": "face", "size": 128,
        "clips": [{"path": "a.png", "subject": 0, "start": 0, "end": 1, "crop": {"x": 0, "y": 5, "w": 60, "h": 60}}],
        "frames": [
            {"frame": 0, "subject": 0, "x": 10.12, "y": 20.46, "w": 30.46, "h": 40.79, "score": 0.988, "detected": True,
             "crop": {"x": 0, "y": 5, "w": 60, "h": 60}, "clip": 0},
            {"frame": 0, "subject": 1, "x": 100, "y": 20, "w": 10, "h": 10, "score": 0.5, "detected": True,
             "crop": {"x": 90, "y": 10, "w": 30, "h": 30}, "clip": None},
        ],
    }


def test_a_videos_record_lists_every_frame_of_every_subject_in_order():
    kept = Segment(0, 2, 4, Box(1, 2, 20, 20, angle=12.345), [FrameBox(2, Box(5, 6, 7, 8, score=0.9), True),
                                                              FrameBox(3, Box(5.5, 6, 7, 8, score=0.0), False)],
                   cut="jump")
    other = Segment(1, 0, 2, Box(30, 2, 20, 20), [FrameBox(0, Box(31, 3, 7, 8), True),
                                                  FrameBox(1, Box(32, 3, 7, 8), True)])
    short = Segment(-1, 1, 2, Box(40, 2, 10, 10), [FrameBox(1, Box(41, 3, 5, 5, score=0.12345), True)])
    short_of_0 = Segment(0, 4, 5, Box(1, 2, 20, 20), [FrameBox(4, Box(6, 6, 7, 8), True)])  # skipped, subject 0
    unwritten = Segment(1, 3, 4, Box(30, 2, 20, 20), [FrameBox(3, Box(33, 3, 7, 8), True)])
    last = Segment(1, 4, 5, Box(30, 2, 20, 20), [FrameBox(4, Box(34, 3, 7, 8), True)])
    plan = CropPlan(5, (48, 64), [[kept], [other, unwritten, last]], [short, short_of_0],
                    CropOptions(target="person", size=64))
    record = video_record("in.mp4", plan, 25.0, {0: "c-000.mp4", 1: "c-001.mp4"})
    assert {k: record[k] for k in ("input", "width", "height", "num_frames", "fps", "target", "size")} == {
        "input": "in.mp4", "width": 64, "height": 48, "num_frames": 5, "fps": 25.0, "target": "person", "size": 64}
    assert record["clips"] == [
        {"path": "c-000.mp4", "subject": 0, "start": 2, "end": 4, "start_time": 0.08,
         "crop": {"x": 1, "y": 2, "w": 20, "h": 20}, "angle": 12.35, "cut": "jump"},
        {"path": "c-001.mp4", "subject": 1, "start": 0, "end": 2, "start_time": 0.0,
         "crop": {"x": 30, "y": 2, "w": 20, "h": 20}, "angle": 0.0, "cut": "end"},
    ]
    # by frame, then subject; the skipped segment's subject (-1: none kept) is None and comes last
    assert [(f["frame"], f["subject"], f["clip"], f["detected"]) for f in record["frames"]] == [
        (0, 1, 1, True), (1, 1, 1, True), (1, None, None, True), (2, 0, 0, True), (3, 0, 0, False), (3, 1, None, True),
        (4, 0, None, True), (4, 1, None, True)]  # subject 0's skipped frame listed before subject 1's
    assert record["frames"][2] == {"frame": 1, "subject": None, "x": 41, "y": 3, "w": 5, "h": 5, "score": 0.123,
                                   "detected": True, "crop": {"x": 40, "y": 2, "w": 10, "h": 10}, "clip": None}
    assert record["frames"][4]["x"] == 5.5 and record["frames"][4]["score"] == 0.0
