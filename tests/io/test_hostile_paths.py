"""Paths a careless user or an attacker gives (issue 29): names with a colon reach ffmpeg as file paths,
names that are no file name are refused, and an output that cannot be written is reported before any
work, naming the path."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import tifffile

from fomm.io import MediaError, VideoReader, VideoWriter, read_image
from fomm.io.outputs import OutputError, check_file_output, check_folder_output
from fomm.io.paths import ffmpeg_path
from tests.media import make_video, pattern_frame, pattern_index

COLON_NAMES = ["2024-01-01T12:30:00.mp4", "a:b.mp4", "file:x.mp4", "http:y.mp4"]


@pytest.mark.parametrize("name", COLON_NAMES)
def test_names_with_a_colon_are_read_and_written_as_files(tmp_path, monkeypatch, name):
    clip = make_video(tmp_path / "clip.mp4", n=3, audio=True)
    shutil.copy(clip, tmp_path / name)
    monkeypatch.chdir(tmp_path)  # relative, as typed: the text before the colon looks like a protocol
    with VideoReader(name) as reader:
        assert [pattern_index(f) for f in reader] == [0, 1, 2]
    out = "out-" + name
    with VideoWriter(out, fps=25, audio_from=name) as writer:
        for i in range(3):
            writer.write(pattern_frame(i))
    with VideoReader(out) as reader:
        assert [pattern_index(f) for f in reader] == [0, 1, 2] and reader.info.has_audio
    assert sorted(os.listdir(tmp_path)) == sorted(["clip.mp4", name, out])


def test_ffmpeg_path_is_an_absolute_file_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ffmpeg_path("a:b.mp4") == f"file:{tmp_path}/a:b.mp4"


@pytest.mark.parametrize(("name", "words"), [
    ("-", "standard output"),
    (".mp4", "only an extension"),
    ("out.mp4.", "ends with a dot"),
])
def test_names_that_would_silently_become_frame_folders_are_refused(tmp_path, monkeypatch, name, words):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MediaError, match=words):
        VideoWriter(name, fps=25)
    assert not os.listdir(tmp_path)


def test_a_name_too_long_is_one_line_before_any_work(tmp_path):
    name = tmp_path / ("x" * 300 + ".mp4")
    for check in (check_file_output, check_folder_output):
        with pytest.raises(OutputError, match=r"too long.*at most 255 bytes.*shorter name") as info:
            check(name, overwrite=False)
        assert "\n" not in str(info.value) and "x" * 300 not in str(info.value)
    # the temporary name is 14 bytes longer: a name that fits alone but not with ".partial" is refused too
    with pytest.raises(OutputError, match="too long"):
        VideoWriter(tmp_path / ("y" * 246 + ".mp4"), fps=25)
    assert not os.listdir(tmp_path)


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux /sys")
def test_permission_denied_names_the_path_before_any_work():
    """/sys refuses new files even to root (chmod cannot make a folder unwritable for root)."""
    for check in (check_file_output, check_folder_output):
        with pytest.raises(OutputError, match=r"/sys/kernel/fomm-out\.mp4: cannot write there \(Permission denied"):
            check("/sys/kernel/fomm-out.mp4", overwrite=False)
    with pytest.raises(OutputError, match="Permission denied"):
        VideoWriter("/sys/kernel/new/fomm-out.mp4", fps=25)  # the first existing folder is checked


@pytest.mark.parametrize(("dtype", "top"), [(np.uint32, 2**32 - 1), (np.int32, 2**31 - 1)])
def test_32_bit_integer_tiff_is_scaled_from_its_full_range(tmp_path, dtype, top):
    ramp = np.linspace(0, 1, 48 * 64).reshape(48, 64)
    tifffile.imwrite(tmp_path / "deep.tif", np.round(ramp * top).astype(dtype))
    image = read_image(tmp_path / "deep.tif")
    assert image.shape == (48, 64, 3)
    np.testing.assert_allclose(image[..., 0], np.round(ramp * 255), atol=1)
    assert (image[..., 0] == image[..., 2]).all()
