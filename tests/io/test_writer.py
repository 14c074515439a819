"""Writing videos: formats, exact frame rates, audio carried over, and never a half-written output."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from fomm.io import MediaError, VideoReader, VideoWriter, probe_video, read_video
from fomm.io.outputs import MARKER, OutputError
from tests.media import make_audio, make_gif, make_video, pattern_frame, pattern_index


def _write_pattern(path, n=8, size=(64, 48), **kwargs) -> VideoWriter:
    with VideoWriter(path, **kwargs) as writer:
        for i in range(n):
            writer.write(pattern_frame(i, size))
    return writer


def _streams(path) -> dict[str, tuple[str, float]]:
    """{type: (codec, duration in seconds)} of the first video and audio streams (Matroska keeps only the
    container's duration)."""
    with av.open(str(path)) as container:
        return {
            s.type: (s.codec_context.name,
                     float(s.duration * s.time_base) if s.duration else container.duration / av.time_base)
            for s in container.streams
        }


@pytest.mark.parametrize("name", ["out.mp4", "out.mov", "out.mkv"])
def test_h264_round_trip(tmp_path, name):
    writer = _write_pattern(tmp_path / name, n=8, fps=25)
    assert writer.frames_written == 8 and writer.path == tmp_path / name
    assert _streams(tmp_path / name)["video"][0] == "h264"
    with VideoReader(tmp_path / name) as video:
        assert (video.num_frames, video.fps, video.size) == (8, 25.0, (64, 48))
        assert video.duration == pytest.approx(8 / 25)
        frames = list(video)
    assert [pattern_index(f) for f in frames] == list(range(8))
    assert np.abs(frames[5].astype(int) - pattern_frame(5)).mean() < 3


@pytest.mark.parametrize("fps", [30000 / 1001, Fraction(24000, 1001), 29.97, np.float32(12.5)])
def test_frame_rate_is_exact(tmp_path, fps):
    _write_pattern(tmp_path / "out.mp4", n=10, fps=fps)
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(float(fps)).limit_denominator(1001 * 1000)
        assert stream.duration * stream.time_base == pytest.approx(10 / float(fps), abs=1e-6)


def test_gif_keeps_rate_and_colors(tmp_path):
    # Two frames with nothing in common: each needs its own palette.
    gradient = np.zeros((48, 64, 3), np.uint8)
    gradient[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)[None]
    gradient[..., 2] = np.linspace(0, 255, 48, dtype=np.uint8)[:, None]
    frames = [gradient, 255 - gradient] * 5
    with VideoWriter(tmp_path / "out.gif", fps=10) as writer:
        writer.write_batch(np.stack(frames))
    info = probe_video(tmp_path / "out.gif")
    assert (info.num_frames, info.fps, info.duration) == (10, pytest.approx(10), pytest.approx(1.0))
    decoded = read_video(tmp_path / "out.gif")
    for got, want in zip(decoded, frames, strict=True):
        assert np.abs(got.astype(int) - want).mean() < 4


def test_gif_at_ntsc_rate_keeps_duration(tmp_path):
    _write_pattern(tmp_path / "out.gif", n=10, fps=30000 / 1001)
    info = probe_video(tmp_path / "out.gif")  # GIF delays are centiseconds: 3, 4, 3, 3, 4, ...
    assert info.num_frames == 10 and info.duration == pytest.approx(10 * 1001 / 30000, abs=0.01)


@pytest.mark.parametrize("name", ["frames", "frames.d/"])
def test_folder_of_png_frames(tmp_path, name):
    _write_pattern(f"{tmp_path}/{name}", n=3, fps=25)  # a string: pathlib would drop the trailing /
    folder = tmp_path / name.rstrip("/")
    assert sorted(p.name for p in folder.iterdir()) == [MARKER, "000000.png", "000001.png", "000002.png"]
    np.testing.assert_array_equal(read_video(folder), np.stack([pattern_frame(i) for i in range(3)]))
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # no temporary folder left


def test_odd_size_is_padded_to_even(tmp_path):
    _write_pattern(tmp_path / "odd.mp4", n=3, size=(63, 47), fps=25)
    frames = read_video(tmp_path / "odd.mp4")
    assert frames.shape == (3, 48, 64, 3)
    # the extra row and column repeat the last ones
    assert np.abs(frames[:, :47, :63].astype(int) - np.stack([pattern_frame(i, (63, 47)) for i in range(3)])).mean() < 3
    assert np.abs(frames[:, 47].astype(int) - frames[:, 46]).mean() < 3


def test_audio_is_copied_without_reencoding(tmp_path):
    source = make_video(tmp_path / "driving.mp4", n=20, fps=Fraction(30000, 1001), audio=True)
    with VideoReader(source) as video, VideoWriter(tmp_path / "out.mp4", fps=video.fps, audio_from=source) as out:
        for frame in video:
            out.write(frame)
    streams = _streams(tmp_path / "out.mp4")
    assert streams["audio"][0] == "aac"
    assert streams["audio"][1] == pytest.approx(streams["video"][1], abs=0.07)  # within one aac packet
    assert probe_video(tmp_path / "out.mp4").has_audio

    def payloads(path):
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(audio=0) if p.size][:10]

    assert payloads(tmp_path / "out.mp4") == payloads(source)  # the same packets, not re-encoded


def test_longer_audio_is_cut_at_the_video_end(tmp_path):
    source = make_video(tmp_path / "long.mp4", n=25, fps=25, audio=True)  # 1 s of sound
    _write_pattern(tmp_path / "out.mp4", n=5, fps=25, audio_from=source)  # 0.2 s of video
    streams = _streams(tmp_path / "out.mp4")
    assert streams["video"][1] == pytest.approx(0.2)
    assert streams["audio"][1] == pytest.approx(0.2, abs=0.07)


def test_audio_codec_unfit_for_mp4_is_reencoded(tmp_path):
    wav = make_audio(tmp_path / "sound.wav", seconds=1.0)  # pcm_s16le does not go into mp4
    _write_pattern(tmp_path / "out.mp4", n=10, fps=25, audio_from=wav)
    streams = _streams(tmp_path / "out.mp4")
    assert streams["audio"][0] == "aac"
    assert streams["audio"][1] == pytest.approx(0.4, abs=0.07)


def test_audio_from_a_silent_file_gives_a_silent_output(tmp_path):
    silent = make_gif(tmp_path / "driving.gif", n=3)
    _write_pattern(tmp_path / "out.mp4", n=3, fps=25, audio_from=silent)
    assert "audio" not in _streams(tmp_path / "out.mp4")


def test_existing_output_is_not_overwritten(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"precious")
    with pytest.raises(OutputError, match=r"out\.mp4 exists; pass --overwrite to replace it"):
        VideoWriter(target, fps=25)
    assert target.read_bytes() == b"precious"
    folder = tmp_path / "frames"
    _write_pattern(folder, n=3, fps=25)
    with pytest.raises(OutputError, match=r"frames exists; pass --overwrite to replace it"):
        VideoWriter(folder, fps=25)
    _write_pattern(target, n=2, fps=25, overwrite=True)
    assert probe_video(target).num_frames == 2
    _write_pattern(folder, n=2, fps=25, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == [MARKER, "000000.png", "000001.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out.mp4"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.png").write_bytes(b"precious")  # a folder fomm did not make: never replaced
    with pytest.raises(OutputError, match=r"mine holds 1 entry fomm did not write \(keep.png\)"):
        VideoWriter(mine, fps=25, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["keep.png"]


def test_an_empty_folder_is_not_in_the_way(tmp_path):
    (tmp_path / "frames").mkdir()
    _write_pattern(tmp_path / "frames", n=1, fps=25)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [MARKER, "000000.png"]


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_nothing_is_left_behind_after_an_error(tmp_path, name, error):
    source = make_video(tmp_path / "driving.mp4", n=3, audio=True)
    audio = source if name == "out.mp4" else None
    with pytest.raises(error), VideoWriter(tmp_path / name, fps=25, audio_from=audio) as writer:
        writer.write(pattern_frame(0))
        writer.write(pattern_frame(1))
        assert any(p.name.startswith(f".{name}.partial") for p in tmp_path.iterdir())  # work in progress
        raise error("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driving.mp4"]


def test_failed_overwrite_keeps_the_old_output(tmp_path):
    target = tmp_path / "out.mp4"
    _write_pattern(target, n=4, fps=25)
    before = target.read_bytes()
    source = make_video(tmp_path / "driving.mp4", n=3, audio=True)  # its audio makes the partial file appear
    with pytest.raises(RuntimeError), VideoWriter(target, fps=25, overwrite=True, audio_from=source) as writer:
        writer.write(pattern_frame(0))
        assert (tmp_path / ".out.mp4.partial.mp4").exists()
        raise RuntimeError("model crashed")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["driving.mp4", "out.mp4"]


def test_writer_errors(tmp_path):
    with pytest.raises(MediaError, match=r"unsupported extension '\.avi'; use \.mp4, \.mov, \.mkv .*\.gif.*folder"):
        VideoWriter(tmp_path / "out.avi", fps=25)
    with pytest.raises(MediaError, match=r"cannot add audio to .*out\.gif: only \.mp4, \.mov, \.mkv"):
        VideoWriter(tmp_path / "out.gif", fps=25, audio_from=make_video(tmp_path / "a.mp4", n=2, audio=True))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not media")
    with pytest.raises(MediaError, match=r"cannot read audio from .*garbage\.mp4"):
        VideoWriter(tmp_path / "out.mp4", fps=25, audio_from=garbage)
    garbage.unlink()
    with pytest.raises(MediaError, match=r"missing\.mp4 not found"):
        VideoWriter(tmp_path / "out.mp4", fps=25, audio_from=tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="fps must be a positive number"):
        VideoWriter(tmp_path / "out.mp4", fps=0)
    with pytest.raises(MediaError, match=r"no frames were written to .*empty\.mp4; nothing was saved"):
        with VideoWriter(tmp_path / "empty.mp4", fps=25):
            pass
    with pytest.raises(ValueError, match=r"frame is 32x32 but .*out\.mp4 is being written at 64x48"):
        with VideoWriter(tmp_path / "out.mp4", fps=25) as writer:
            writer.write(pattern_frame(0))
            writer.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\) RGB frame"):
        with VideoWriter(tmp_path / "out.mp4", fps=25) as writer:
            writer.write(np.zeros((48, 64, 3), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


def test_size_given_up_front_is_enforced(tmp_path):
    with pytest.raises(ValueError, match=r"frame is 64x48 but .* at 32x32"):
        with VideoWriter(tmp_path / "out.mp4", fps=25, size=(32, 32)) as writer:
            writer.write(pattern_frame(0))
    _write_pattern(tmp_path / "ok.mp4", n=2, fps=25, size=(64, 48))
    assert probe_video(tmp_path / "ok.mp4").size == (64, 48)
