"""write_image (atomic, the format from the extension), image_size (header only, oriented like
read_image) and count_frames (exact, without decoding)."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.io import MediaError, count_frames, image_size, read_image, write_image
from fomm.io import image as image_module
from tests.media import make_frame_folder, make_gif, make_image, make_video, pattern_frame


@pytest.mark.parametrize("name, lossless", [("a.png", True), ("a.bmp", True), ("a.jpg", False), ("a.webp", False)])
def test_write_image_reads_back_in_its_extensions_format(tmp_path, name, lossless):
    frame = pattern_frame(3)
    path = write_image(tmp_path / name, frame)
    back = read_image(path)
    assert back.shape == frame.shape
    if lossless:
        np.testing.assert_array_equal(back, frame)
    else:
        assert np.abs(back.astype(int) - frame).mean() < 8
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left


def test_write_image_refuses_an_unknown_extension_and_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    with pytest.raises(MediaError, match=r"out\.txt.*unsupported image extension '\.txt'; use \.png"):
        write_image(tmp_path / "out.txt", pattern_frame(0))
    path = write_image(tmp_path / "a.png", pattern_frame(0))

    def failing_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(image_module.Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(path, pattern_frame(1))
    np.testing.assert_array_equal(read_image(path), pattern_frame(0))  # the previous picture, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_image_size_is_the_size_read_image_returns(tmp_path):
    assert image_size(make_image(tmp_path / "a.png", size=(64, 48))) == (48, 64)
    turned = make_image(tmp_path / "b.jpg", size=(64, 48), exif_orientation=6)  # stored sideways
    assert image_size(turned) == read_image(turned).shape[:2] == (64, 48)
    (tmp_path / "c.png").write_bytes(b"garbage")
    with pytest.raises(MediaError, match=r"c\.png"):
        image_size(tmp_path / "c.png")


@pytest.mark.parametrize("name", ["a.mp4", "a.mkv", "a.webm"])
def test_count_frames_is_exact_without_a_listed_count(tmp_path, name):
    assert count_frames(make_video(tmp_path / name, n=7)) == 7


def test_count_frames_of_gifs_folders_and_garbage(tmp_path):
    assert count_frames(make_gif(tmp_path / "a.gif", n=5)) == 5
    assert count_frames(make_frame_folder(tmp_path / "frames", n=4)) == 4
    (tmp_path / "x.mp4").write_bytes(b"not a video" * 10)
    with pytest.raises(MediaError, match=r"cannot open .*x\.mp4 as a video"):
        count_frames(tmp_path / "x.mp4")


def test_count_frames_reads_a_name_with_a_colon_as_a_file(tmp_path):
    assert count_frames(make_video(tmp_path / "2024-01-01T12:30:00.mp4", n=3)) == 3
