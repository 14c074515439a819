"""``fomm crop`` and ``fomm animate --crop auto --paste-back`` on footage whose answers are known by
construction (tests/crop/footage.py), never read back from the code under test (issue 30): the crop's
centre and side against the scene's true face, frames without a subject, the clip's audio offset
read from a pitch that changes every second, and the best frame of a clip built so that one frame
is the source's pose exactly.

Planted bugs these catch (each tried by hand, see docs/testing.md):
- every crop box shifted by 10 px, or by 0.3 of its side (in ``CropOptions.crop_box``) ->
  ``test_crop_frames_the_photo_like_the_training_data``, ``test_crop_clips_frame_each_segment...``,
  ``test_animate_pastes_into_the_photos_true_face_box...``;
- frames with no subject marked as present (``DrivingCrops.from_plan``) ->
  ``test_animate_leaves_the_frames_without_a_driving_face_as_the_photo``;
- a segment's audio always starting at 0 s -> ``test_crop_clips_carry_their_own_seconds_of_audio``;
- the best frame's index reported but another frame's keypoints used ->
  ``test_best_frame_is_the_frame_built_to_match`` (plain) and ``..._with_crops``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fomm.cli import main
from fomm.crop import Box
from fomm.io import read_image
from tests.animation.helpers import random_frames
from tests.crop.footage import (
    CANVAS,
    SIDE,
    assert_framed,
    audio_of,
    dominant_pitch,
    driving_footage,
    expected_crop,
    pitch,
    write_clip,
)
from tests.crop.scenes import place

pytestmark = pytest.mark.slow

PHOTO_AT = (100, 50)  # the astronaut's top-left corner in the source photo


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("footage")
    clip = driving_footage()
    photo, center, size = place(CANVAS, SIDE, *PHOTO_AT)
    Image.fromarray(photo).save(folder / "photo.png")
    return {"clip": write_clip(folder / "driving.mp4", clip.frames), "footage": clip, "photo": photo,
            "photo_path": folder / "photo.png", "face": (center, size)}


def _box(entry: dict) -> Box:
    return Box(entry["x"], entry["y"], entry["w"], entry["h"])


@pytest.fixture(scope="module")
def cropped(footage, tmp_path_factory):
    """``fomm crop`` of the driving clip: its JSON record and the folder of its clips."""
    folder = tmp_path_factory.mktemp("cropped")
    assert main(["crop", str(footage["clip"]), "-o", str(folder / "face.mp4"), "--json", str(folder / "boxes.json"),
                 "--min-frames", "3", "--size", "64"]) == 0
    return json.loads((folder / "boxes.json").read_text()), folder


# ------------------------------------------------------------------------------ fomm crop
def test_crop_frames_the_photo_like_the_training_data(footage, tmp_path):
    assert main(["crop", str(footage["photo_path"]), "-o", str(tmp_path / "face.png"), "--json",
                 str(tmp_path / "b.json")]) == 0
    record = json.loads((tmp_path / "b.json").read_text())
    assert_framed(_box(record["clips"][0]["crop"]), expected_crop([footage["face"]]), "fomm crop photo.png")


def test_crop_clips_frame_each_segment_around_its_true_faces(footage, cropped):
    record, _ = cropped
    clip = footage["footage"]
    assert [(c["start"], c["end"]) for c in record["clips"]] == clip.segments  # split at the jump
    for info, (start, end) in zip(record["clips"], clip.segments, strict=True):
        assert_framed(_box(info["crop"]), expected_crop(clip.faces[start:end]), f"clip {start}-{end}")


def test_crop_boxes_follow_the_true_face_and_only_where_there_is_one(footage, cropped):
    record, _ = cropped
    clip = footage["footage"]
    frames = {entry["frame"]: entry for entry in record["frames"]}
    assert sorted(frames) == [f for f in range(len(clip.frames)) if f not in clip.absent]  # no box where nobody is
    for f, entry in frames.items():
        if clip.faces[f] is None:  # the blank frame inside a segment: interpolated, and said so
            assert entry["detected"] is False
            continue
        (cx, cy), size = clip.faces[f]
        box = _box(entry)
        assert entry["detected"] is True
        assert abs(box.center[0] - cx) < 0.1 * size and abs(box.center[1] - cy) < 0.1 * size, (f, entry)
        assert 0.9 * size < box.w < 1.2 * size, (f, entry)


def test_crop_clips_carry_their_own_seconds_of_audio(footage, cropped):
    """The driving audio plays 400 Hz in second 0, 700 in second 1, 1000 in second 2, 1300 in second 3:
    a clip starting at 2.0 s must start with 1000 Hz."""
    record, folder = cropped
    for info in record["clips"]:
        start = info["start"] / 5
        assert info["start_time"] == pytest.approx(start)
        samples = audio_of(Path(info["path"]))
        assert len(samples) / 16000 == pytest.approx((info["end"] - info["start"]) / 5, abs=0.1)
        for t in (0.1, 1.1):  # clip time -> the driving's second start + t
            expected = pitch(int(start + t + 0.2))
            assert dominant_pitch(samples, t, t + 0.4) == pytest.approx(expected, abs=15), (info["path"], t)


# ------------------------------------------------------------------------------ animate --crop auto
@pytest.fixture(scope="module")
def animated(footage, checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("animated") / "frames"  # PNG frames: exact pixels
    assert main(["animate", str(footage["photo_path"]), str(footage["clip"]), "-o", str(out), "--checkpoint",
                 str(checkpoint), "--crop", "auto", "--paste-back"]) == 0
    return [read_image(p) for p in sorted(out.iterdir()) if not p.name.startswith(".")]


def test_animate_leaves_the_frames_without_a_driving_face_as_the_photo(footage, animated):
    clip, photo = footage["footage"], footage["photo"]
    assert len(animated) == len(clip.frames)
    for f, frame in enumerate(animated):
        assert frame.shape == photo.shape
        if f in clip.absent:  # nobody to follow: the photo at rest, exactly
            assert np.array_equal(frame, photo), f
        else:
            assert not np.array_equal(frame, photo), f


def test_animate_pastes_into_the_photos_true_face_box(footage, animated):
    """Where the output differs from the photo is the source crop, seen from the outside; it must
    frame the photo's true face like the training data."""
    photo = footage["photo"].astype(int)
    changed = np.zeros(photo.shape[:2], bool)
    for frame in animated:
        changed |= (frame.astype(int) != photo).any(axis=-1)
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    seen = Box(cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0])
    # the feathered edge fades to nothing at the box's border: the changed area is up to 2 px smaller a side
    assert_framed(seen, expected_crop([footage["face"]]), "animate --crop auto --paste-back", sides=(0.9, 1.15))
    assert abs(seen.w - seen.h) <= 2


# ------------------------------------------------------------------------------ best frame
BEST = 3  # the driving frame that is the source itself


@pytest.fixture(scope="module")
def pose_clip(tmp_path_factory):
    """A source picture and a folder of 6 driving frames (PNG: lossless) in which frame 3 is the source."""
    folder = tmp_path_factory.mktemp("pose")
    frames = random_frames(6, shape=(64, 64), seed=4)
    source = frames[BEST]
    Image.fromarray(source).save(folder / "source.png")
    (folder / "driving").mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / "driving" / f"{i:02d}.png")
    (folder / "alone").mkdir()
    Image.fromarray(source).save(folder / "alone" / "00.png")
    return folder


def _run(capsys, *argv) -> tuple[list[np.ndarray], str]:
    capsys.readouterr()
    out = Path(argv[argv.index("-o") + 1])
    assert main([str(a) for a in argv]) == 0
    err = capsys.readouterr().err
    return [read_image(p) for p in sorted(out.iterdir()) if not p.name.startswith(".")], err


def _reported(err: str) -> int:
    found = re.search(r"starting from frame (\d+)", err)
    assert found, err
    return int(found.group(1))


def test_best_frame_is_the_frame_built_to_match(pose_clip, tmp_path, capsys):
    """Frame 3 is the source: it is the best frame, and animated from it (relative motion zero) it gives
    what the source driven by itself gives. (The bundled model: trained, so motion shows in the frames,
    where the tiny random-weight one gives nearly the same picture for any pose.)"""
    common = ["--size", "64"]
    auto, err = _run(capsys, "animate", pose_clip / "source.png", pose_clip / "driving", "-o", tmp_path / "auto",
                     *common, "--best-frame", "auto")
    assert _reported(err) == BEST
    still, _ = _run(capsys, "animate", pose_clip / "source.png", pose_clip / "alone", "-o", tmp_path / "still",
                    *common)
    assert np.abs(auto[BEST].astype(int) - still[0]).max() <= 1
    first, _ = _run(capsys, "animate", pose_clip / "source.png", pose_clip / "driving", "-o", tmp_path / "first",
                    *common)
    assert np.abs(first[BEST].astype(int) - still[0]).max() > 4  # the reference frame matters here


@pytest.fixture(scope="module")
def pose_footage(tmp_path_factory):
    """A photo, and driving frames of the same scene (PNG) in which only frame 4 shows it untouched: the
    others have the astronaut's suit tinted below her face, inside the crop."""
    folder = tmp_path_factory.mktemp("pose-footage")
    photo, center, size = place(CANVAS, SIDE, *PHOTO_AT)
    Image.fromarray(photo).save(folder / "photo.png")
    (folder / "driving").mkdir()
    below = int(center[1] + 0.75 * size)
    for i in range(7):
        frame = photo.copy()
        if i != 4:
            frame[below : below + 30, int(center[0] - 60) : int(center[0] + 60), i % 3] = 40 * i
        Image.fromarray(frame).save(folder / "driving" / f"{i:02d}.png")
    return folder


def test_best_frame_with_crops_uses_the_best_frames_keypoints(pose_footage, tmp_path, capsys):
    common = ["--crop", "auto", "--paste-back"]  # the bundled (trained) model, as above
    photo, driving = pose_footage / "photo.png", pose_footage / "driving"
    auto, err = _run(capsys, "animate", photo, driving, "-o", tmp_path / "auto", *common, "--best-frame", "auto")
    assert _reported(err) == 4
    given, _ = _run(capsys, "animate", photo, driving, "-o", tmp_path / "given", *common, "--best-frame", "4")
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(auto, given, strict=True))
    plain, _ = _run(capsys, "animate", photo, driving, "-o", tmp_path / "plain", *common)
    assert np.abs(plain[4].astype(int) - given[4]).max() > 4  # frame 0's keypoints would show
