"""``fomm crop`` on a real photograph moved by known transforms: clips per segment with audio, the
--json boxes, still images, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from fomm.cli import main
from fomm.crop import Box, crop_square
from fomm.io import read_image
from tests.crop.scenes import moving_frames, place, write_video

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crop")
    frames, centers, sizes = moving_frames()
    return write_video(folder / "clip.mp4", frames), frames, centers, sizes


def _decode(path: Path) -> tuple[list[np.ndarray], float | None]:
    with av.open(str(path)) as container:
        audio = container.streams.audio[0].duration * container.streams.audio[0].time_base \
            if container.streams.audio else None
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)], audio


def _box(d: dict) -> Box:
    return Box(d["x"], d["y"], d["w"], d["h"])


def test_video_gives_one_clip_per_segment_with_audio_and_every_frames_box(scene, tmp_path, capsys):
    clip, frames, centers, sizes = scene
    out = tmp_path / "face.mp4"
    assert main(["crop", str(clip), "-o", str(out), "--json", str(tmp_path / "boxes.json"), "--min-frames", "3",
                 "--size", "64"]) == 0
    record = json.loads((tmp_path / "boxes.json").read_text())
    decoded_input, _ = _decode(clip)
    assert [(c["start"], c["end"]) for c in record["clips"]] == [(0, 10), (10, 20)]  # split at the jump
    assert sorted(f["frame"] for f in record["frames"]) == list(range(20))
    for entry in record["frames"]:
        box = _box(entry)
        assert box.contains(*centers[entry["frame"]]) and 0.6 * sizes[0] < box.w < 1.8 * sizes[0]
        assert entry["detected"] == (entry["frame"] != 14)  # the blank frame is interpolated
    for k, info in enumerate(record["clips"]):
        path = tmp_path / f"face-{k:03d}.mp4"
        assert info["path"] == str(path)
        decoded, audio = _decode(path)
        assert len(decoded) == 10 and decoded[0].shape == (64, 64, 3)
        assert abs(float(audio) - 1.0) < 0.1  # the segment's second of sound, not the whole clip's
        for i, image in enumerate(decoded):  # the clip shows what the json says was cropped
            expected = crop_square(decoded_input[info["start"] + i], _box(info["crop"]), 64)
            assert np.abs(image.astype(int) - expected).mean() < 6  # H.264 at crf 18 on a detailed 64 px picture
        shifted = crop_square(decoded_input[info["start"]], _box(info["crop"]).__class__(
            info["crop"]["x"] + 8, info["crop"]["y"] + 8, info["crop"]["w"], info["crop"]["h"]), 64)
        assert np.abs(decoded[0].astype(int) - shifted).mean() > 2 * np.abs(
            decoded[0].astype(int) - crop_square(decoded_input[info["start"]], _box(info["crop"]), 64)).mean()
    assert "face-*.mp4" in capsys.readouterr().out


def test_still_image_and_json(tmp_path):
    image, center, size = place((301, 403), 256, 60, 30)
    source = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(image).save(source)
    assert main(["crop", str(source), "-o", str(tmp_path / "face.png"), "--json", str(tmp_path / "b.json")]) == 0
    record = json.loads((tmp_path / "b.json").read_text())
    (entry,) = record["frames"]
    assert _box(entry).contains(*center)
    crop = _box(record["clips"][0]["crop"])
    assert np.array_equal(read_image(tmp_path / "face.png"), crop_square(image, crop, 256))
    before = source.read_bytes()
    for flag in ("-o", "--json"):  # the input is never written, --overwrite or not
        argv = ["crop", str(source), "-o", str(tmp_path / "other.png"), flag, str(source), "--overwrite"]
        assert main(argv) == 2
        assert source.read_bytes() == before
    assert not (tmp_path / "other.png").exists()


def test_refusals(scene, tmp_path, capsys):
    clip = scene[0]
    empty = tmp_path / "empty.png"
    from PIL import Image

    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(empty)
    assert main(["crop", str(empty), "-o", str(tmp_path / "x.png")]) == 2
    assert "no face found in" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
    assert main(["crop", str(clip), "-o", str(tmp_path / "x.mp4"), "--min-frames", "50"]) == 2
    assert "shorter than --min-frames 50" in capsys.readouterr().err
    assert not list(tmp_path.glob("x-*"))
