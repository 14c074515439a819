"""The size limits (fomm.limits): refused before the work, in one line naming the variable that raises
them; the encoder queue bounded in bytes."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from fomm.cli import main
from fomm.crop.box import Box
from fomm.crop.image import crop_square
from fomm.io import BackgroundWriter, VideoReader, VideoWriter, read_image
from fomm.limits import LimitError
from tests.media import make_image, make_video


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` 1-bit pixels and holds a few bytes of them: what a
    20 KB file of 13000x13000 pixels looks like before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_a_huge_image_is_refused_from_its_header(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 13000, 13000)
    with pytest.raises(LimitError, match=r"bomb\.png \(13000x13000\): 169,000,000 pixels is over fomm's limit of "
                                         r"100,000,000 pixels; set FOMM_MAX_IMAGE_PIXELS=169000000"):
        read_image(path)


def test_the_pixel_limit_is_raised_and_lowered_by_its_variable(tmp_path, monkeypatch):
    image = make_image(tmp_path / "a.png", size=(64, 48))
    monkeypatch.setenv("FOMM_MAX_IMAGE_PIXELS", "3071")
    with pytest.raises(LimitError, match="3,072 pixels is over fomm's limit of 3,071"):
        read_image(image)
    monkeypatch.setenv("FOMM_MAX_IMAGE_PIXELS", "3072")
    assert read_image(image).shape == (48, 64, 3)
    monkeypatch.setenv("FOMM_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(LimitError, match="FOMM_MAX_IMAGE_PIXELS='lots' is not a number"):
        read_image(image)


def test_video_frames_and_outputs_follow_the_pixel_limit(tmp_path, monkeypatch):
    clip = make_video(tmp_path / "clip.mp4", n=2, size=(64, 48))
    monkeypatch.setenv("FOMM_MAX_IMAGE_PIXELS", "3000")
    with pytest.raises(LimitError, match=r"clip\.mp4's frame \(64x48\)"):
        VideoReader(clip)
    with pytest.raises(LimitError, match=r"out\.mp4's frames \(64x48\)"):
        VideoWriter(tmp_path / "out.mp4", fps=25, size=(64, 48))
    with pytest.raises(LimitError, match=r"out\.mp4's frames \(64x48\)"), VideoWriter(tmp_path / "out.mp4", 25) as out:
        out.write(np.zeros((48, 64, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_crop_square_far_beyond_its_image_is_refused_not_allocated():
    image = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(LimitError, match=r"crop square 0,0,1e\+06,1e\+06 \(1000000x1000000\).*FOMM_MAX_IMAGE_PIXELS"):
        crop_square(image, Box(0, 0, 1e6, 1e6), 64)
    assert crop_square(image, Box(-8, -8, 80, 80), 32).shape == (32, 32, 3)  # padded, within the limit


def _error_line(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["animate", "s.png", "d.mp4", "--size", "100000"],
    ["crop", "s.png", "--size", "100000"],
    ["synth", "out", "--size", "100000"],
    ["export", "default", "-o", "out", "--size", "100000"],
])
def test_frame_sizes_over_the_limit_are_refused_by_the_parser(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    line = _error_line(capsys, argv)
    assert "--size: 100,000 px is over fomm's limit of 2,048 px; set FOMM_MAX_FRAME_SIZE=100000" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("margin", ["inf", "nan"])
def test_crop_margin_must_be_finite(tmp_path, capsys, margin):
    assert "--margin: expected a number >= 0" in _error_line(capsys, ["crop", "s.png", "--margin", margin])


def test_crop_margin_that_makes_a_huge_square_is_refused(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(skimage_data.astronaut()).save(photo)  # a face the bundled detector finds
    code = main(["crop", str(photo), "-o", str(tmp_path / "crop.png"), "--margin", "1000"])
    err = capsys.readouterr().err
    assert code == 2 and "crop square" in err and "over fomm's limit" in err and "FOMM_MAX_IMAGE_PIXELS" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


class _SlowWriter:
    def __init__(self):
        self.frames = []
        self.go = threading.Event()

    def write(self, frame):
        self.go.wait()
        self.frames.append(frame)


def test_background_writer_queue_is_bounded_in_bytes():
    """With 1 MB frames and a 3 MB budget, at most three frames wait (a frame-count bound of 16 would let
    sixteen pile up); every frame still arrives, in order."""
    writer = _SlowWriter()
    frames = [np.full((1000, 1000), i, np.uint8) for i in range(8)]
    peak = [0]
    with BackgroundWriter(writer, maxsize=16, max_bytes=3_000_000) as background:
        def feed():
            for frame in frames:
                background.write(frame)
                peak[0] = max(peak[0], background._bytes)

        feeder = threading.Thread(target=feed)
        feeder.start()
        time.sleep(0.3)
        assert background._bytes <= 3_000_000 and len(background._items) == 3
        writer.go.set()
        feeder.join()
    assert [int(f[0, 0]) for f in writer.frames] == list(range(8))
    assert peak[0] <= 3_000_000


def test_background_writer_takes_one_frame_larger_than_the_budget():
    writer = _SlowWriter()
    writer.go.set()
    with BackgroundWriter(writer, max_bytes=10) as background:
        background.write(np.zeros((100, 100), np.uint8))
    assert len(writer.frames) == 1




@pytest.mark.parametrize("crops", [["--crop", "0,0,1000000,1000000", "--driving-crop", "none"],
                                   ["--crop", "0,0,16,16", "--driving-crop", "0,0,1000000,1000000"]])
def test_animate_crop_box_over_the_limit(tmp_path, capsys, checkpoint, crops):
    source, driving = make_image(tmp_path / "s.png"), make_video(tmp_path / "d.mp4", n=2)
    argv = ["animate", str(source), str(driving), "-o", str(tmp_path / "out.mp4"), "--checkpoint", str(checkpoint)]
    assert main(argv + crops) == 2
    assert "1,000,000,000,000 pixels is over fomm's limit" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.mp4", "s.png"]
