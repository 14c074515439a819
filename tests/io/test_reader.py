"""Reading driving videos: files and frame folders, metadata, rotation, damaged files and errors."""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np
import pytest

from fomm.io import MediaError, VideoReader, probe_video, read_video
from tests.media import (
    make_audio,
    make_frame_folder,
    make_gif,
    make_image,
    make_video,
    pattern_frame,
    pattern_index,
    red_quadrant,
    truncate,
)


def test_mp4_metadata_and_frames(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", n=12, size=(64, 48), fps=25, audio=True)
    with VideoReader(clip) as video:
        assert video.path == clip
        assert video.fps == 25.0 and video.num_frames == 12 and video.size == (64, 48)
        assert video.duration == pytest.approx(12 / 25)
        assert video.has_audio
        frames = list(video)
        assert video.frames_read == 12 and not video.truncated
    assert [pattern_index(f) for f in frames] == list(range(12))
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert np.abs(frames[3].astype(int) - pattern_frame(3)).mean() < 3


def test_ntsc_rate_is_kept_exactly(tmp_path):
    clip = make_video(tmp_path / "ntsc.mp4", n=10, fps=Fraction(30000, 1001))
    info = probe_video(clip)
    assert Fraction(info.fps).limit_denominator(1001 * 1000) == Fraction(30000, 1001)
    assert info.duration == pytest.approx(10 * 1001 / 30000)
    assert info.num_frames == 10 and not info.has_audio


def test_mkv_without_a_frame_count_is_estimated(tmp_path):
    clip = make_video(tmp_path / "clip.mkv", n=6, fps=25)
    with VideoReader(clip) as video:
        assert video.num_frames == 6 and video.fps == 25.0 and video.duration == pytest.approx(0.24)
        assert len(list(video)) == 6 and not video.truncated


def test_gif_rate_comes_from_its_frame_delays(tmp_path):
    clip = make_gif(tmp_path / "clip.gif", n=8, fps=10)
    with VideoReader(clip) as video:
        assert video.fps == pytest.approx(10) and video.num_frames == 8
        assert video.duration == pytest.approx(0.8)
        frames = list(video)
    assert [pattern_index(f) for f in frames] == list(range(8))
    assert frames[0].shape == (48, 64, 3)


def test_frame_folder_is_sorted_naturally(tmp_path):
    folder = make_frame_folder(tmp_path / "frames", n=12)  # frame1.png ... frame12.png
    (folder / "notes.txt").write_text("ignored")
    (folder / ".hidden.png").write_bytes(b"ignored")
    with VideoReader(folder) as video:
        assert video.fps == 25.0 and video.num_frames == 12 and video.size == (64, 48)
        assert video.duration == pytest.approx(12 / 25) and not video.has_audio
        assert [pattern_index(f) for f in video] == list(range(12))
    assert VideoReader(folder, fps=10).duration == pytest.approx(1.2)


def test_folder_frames_must_share_one_size(tmp_path):
    folder = make_frame_folder(tmp_path / "frames", n=2)
    make_image(folder / "frame3.png", size=(32, 32))
    with pytest.raises(MediaError, match=r"frame3\.png is 32x32 but the first frame .* is 64x48"):
        list(VideoReader(folder))


@pytest.mark.parametrize(("rotation", "corner"), [(90, "bottom-left"), (-90, "top-right"), (180, "bottom-right")])
def test_rotation_metadata_is_applied(tmp_path, rotation, corner):
    # The display matrix says: turn the stored frame `rotation` degrees counter-clockwise to show it.
    clip = make_video(tmp_path / "phone.mp4", n=3, size=(64, 48), rotation=rotation)
    with VideoReader(clip) as video:
        expected_size = (64, 48) if rotation == 180 else (48, 64)
        assert video.size == expected_size and video.info.rotation == rotation % 360
        frames = list(video)
    assert frames[0].shape == (expected_size[1], expected_size[0], 3)
    assert all(red_quadrant(f) == corner for f in frames)
    assert frames[0].flags["C_CONTIGUOUS"]  # torch.from_numpy needs positive strides


VFR_TIMES = [0, 0.04, 0.08, 0.3, 0.34, 0.5, 0.9, 0.94, 0.98, 1.0]  # seconds; the last frame lasts 1/25 s
VFR_DURATION = 1.04


def test_variable_frame_rate_keeps_every_frame(tmp_path):
    clip = make_video(tmp_path / "vfr.mp4", n=10, times=VFR_TIMES, fps=25)
    with VideoReader(clip) as video:
        assert video.num_frames == 10
        assert video.duration == pytest.approx(VFR_DURATION, abs=1e-3)  # as built: last timestamp + 1/25 s
        assert video.fps == pytest.approx(10 / VFR_DURATION, rel=1e-3)  # the average rate
        assert [pattern_index(f) for f in video] == list(range(10))


@pytest.mark.parametrize(("suffix", "audio_codec"), [(".avi", None), (".webm", "libopus")])
def test_avi_and_webm(tmp_path, suffix, audio_codec):
    clip = make_video(tmp_path / f"clip{suffix}", n=8, fps=25, audio=audio_codec is not None,
                      audio_codec=audio_codec or "aac", sample_rate=48000)
    with VideoReader(clip) as video:
        assert video.size == (64, 48) and video.fps == pytest.approx(25) and video.num_frames == 8
        assert video.has_audio == (audio_codec is not None)
        assert [pattern_index(f) for f in video] == list(range(8))


def test_iterating_again_starts_over(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", n=5)
    with VideoReader(clip) as video:
        first = [pattern_index(f) for f, _ in zip(video, range(2), strict=False)]
        again = [pattern_index(f) for f in video]
    assert first == [0, 1] and again == [0, 1, 2, 3, 4]


def test_read_video_and_probe(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", n=6)
    frames = read_video(clip, max_frames=4)
    assert frames.shape == (4, 48, 64, 3) and frames.dtype == np.uint8
    assert read_video(clip).shape[0] == 6
    info = probe_video(clip)
    assert (info.num_frames, info.size, info.fps) == (6, (64, 48), 25.0)


def test_truncated_file_yields_what_decodes(tmp_path, caplog):
    clip = truncate(make_video(tmp_path / "cut.mp4", n=30, audio=True), keep=2 / 3)
    with caplog.at_level(logging.WARNING, logger="fomm.io"), VideoReader(clip) as video:
        assert video.num_frames == 30  # what the container promises
        frames = list(video)  # no exception
    assert 0 < video.frames_read == len(frames) < 30
    assert video.truncated
    assert [pattern_index(f) for f in frames] == list(range(len(frames)))
    assert "looks truncated or damaged" in caplog.text and str(clip) in caplog.text


def test_complete_file_is_not_flagged(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="fomm.io"), VideoReader(make_video(tmp_path / "a.mp4")) as video:
        list(video)
    assert not video.truncated and caplog.text == ""


def test_file_cut_before_its_index_cannot_be_opened(tmp_path):
    # Without faststart the mp4 index sits at the end: cut it off and nothing can be decoded.
    clip = truncate(make_video(tmp_path / "cut.mp4", n=10, faststart=False))
    with pytest.raises(MediaError, match=r"cannot open .*cut\.mp4 as a video .*truncated"):
        VideoReader(clip)


def test_file_with_no_decodable_frames(tmp_path):
    clip = make_video(tmp_path / "zeroed.mp4", n=5)
    data = bytearray(clip.read_bytes())
    payload = data.find(b"mdat") + 4
    data[payload:] = bytes(len(data) - payload)  # keep the index, blank every frame
    clip.write_bytes(bytes(data))
    with pytest.raises(MediaError, match=r"no decodable frames in .*zeroed\.mp4"):
        VideoReader(clip)


@pytest.mark.parametrize("content", [b"", b"this is not a video" * 10], ids=["empty", "garbage"])
def test_unreadable_container(tmp_path, content):
    clip = tmp_path / "bad.mp4"
    clip.write_bytes(content)
    with pytest.raises(MediaError, match=r"cannot open .*bad\.mp4 as a video"):
        VideoReader(clip)


def test_reader_errors(tmp_path):
    with pytest.raises(MediaError, match=r"nothing\.mp4 not found; check the path"):
        VideoReader(tmp_path / "nothing.mp4")
    still = make_image(tmp_path / "face.png")
    with pytest.raises(MediaError, match=r"face\.png is a still image; give a video or a folder of frames"):
        VideoReader(still)
    sound = make_audio(tmp_path / "sound.wav", seconds=0.2)
    with pytest.raises(MediaError, match=r"sound\.wav has no video stream"):
        VideoReader(sound)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MediaError, match=r"no image frames \(\.png, .*\) in folder .*empty"):
        VideoReader(empty)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        VideoReader(empty, fps=0)


def test_transparent_video_is_composited_on_white(tmp_path):
    clip = tmp_path / "alpha.mov"
    rgba = np.zeros((16, 16, 4), np.uint8)  # black everywhere, opaque only in the top half
    rgba[:8, :, 3] = 255
    rgba[8:12, :, 3] = 128
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgba"
        for _ in range(2):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")))
        container.mux(stream.encode())
    frame = read_video(clip)[0]
    assert (frame[:8] == 0).all() and (frame[12:] == 255).all()
    assert (frame[8:12] == 127).all()  # half-transparent black over white
