"""VideoWriter checked against what is in the file, not against the writer's own results (issue 30,
the survivors of ``python scripts/mutation.py fomm/io/writer.py``): the options x264 records it ran
with (its SEI "options:" string), where the ``moov`` atom sits, which rows an odd size pads, the
seconds of audio a clip starts from, the descriptors left open after an abort, and the exact words
of each refusal (a message is behaviour: it names the problem and the fix).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import av
import numpy as np
import pytest

from fomm.io import MediaError, VideoWriter, read_video
from fomm.io import writer as writer_module
from fomm.io.codecs import CPU_ENCODING, LIBX264, CodecChoice, CodecUnavailable
from fomm.io.outputs import MARKER, OutputError, partial_path
from fomm.limits import LimitError
from tests.crop.footage import audio_of, dominant_pitch, pitch, write_clip

FRAME = np.full((48, 64, 3), 90, np.uint8)


def _write(path, n: int = 2, frame: np.ndarray = FRAME, **options) -> VideoWriter:
    with VideoWriter(path, fps=options.pop("fps", 10), **options) as writer:
        for _ in range(n):
            writer.write(frame)
    return writer


def _x264_options(path: Path) -> dict[str, str]:
    """The settings x264 wrote into the stream it encoded (its SEI user data)."""
    found = re.search(rb"options: ([ -~]+)", path.read_bytes())
    assert found, f"no x264 options in {path}"
    return dict(item.split("=", 1) for item in found.group(1).decode().split() if "=" in item)


def _atoms(path: Path) -> list[str]:
    """The top-level boxes of an MP4/MOV file, in order."""
    data, names, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        names.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        at += size if size >= 8 else len(data)
    return names


# ------------------------------------------------------------------------------ what x264 ran with
def test_crf_reaches_x264_with_18_by_default(tmp_path):
    _write(tmp_path / "default.mp4")
    _write(tmp_path / "rough.mp4", crf=40)
    assert _x264_options(tmp_path / "default.mp4")["crf"] == "18.0"
    assert _x264_options(tmp_path / "rough.mp4")["crf"] == "40.0"


def test_a_frame_too_large_for_the_budget_shortens_x264s_lookahead_and_drops_b_frames(tmp_path, monkeypatch):
    """x264 keeps 2 bytes a pixel per frame in flight: a budget of 3.5 frames of 64x48 holds 3, and no
    B-frames nor more than one reference frame."""
    monkeypatch.setenv("FOMM_MAX_QUEUE_BYTES", str(int(3.5 * 64 * 48 * 2)))
    _write(tmp_path / "tight.mp4")
    tight = _x264_options(tmp_path / "tight.mp4")
    assert (tight["rc_lookahead"], tight["bframes"], tight["ref"]) == ("3", "0", "1")
    monkeypatch.setenv("FOMM_MAX_QUEUE_BYTES", str(40 * 64 * 48 * 2))  # exactly x264's 40: its defaults kept
    _write(tmp_path / "roomy.mp4")
    roomy = _x264_options(tmp_path / "roomy.mp4")
    assert (roomy["rc_lookahead"], roomy["bframes"], roomy["ref"]) == ("40", "3", "3")


LEAN = {"bf": "0", "refs": "1"}  # no B-frames, one reference: x264's frame pool stops growing in a few frames


@pytest.mark.parametrize(("budget_frames", "cores", "expected"), [
    (40, 8, {}), (40.9, None, {}),  # room for x264's default lookahead: its defaults
    (39.5, 8, {"rc-lookahead": "39", "threads": "8", **LEAN}),  # whole frames only
    (3, 8, {"rc-lookahead": "3", "threads": "3", **LEAN}),  # no more threads than frames
    (5, None, {"rc-lookahead": "5", "threads": "1", **LEAN}),  # core count unknown: one
    (0.25, 8, {"rc-lookahead": "1", "threads": "1", **LEAN}),  # not even one frame fits: one, never zero
])
def test_x264_memory_options(monkeypatch, budget_frames, cores, expected):
    width, height = 40, 30  # not square: width and height both count
    monkeypatch.setenv("FOMM_MAX_QUEUE_BYTES", str(int(budget_frames * width * height * 2)))
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert writer_module._x264_memory(width, height) == expected


# ------------------------------------------------------------------------------ the file itself
@pytest.mark.parametrize("name", ["out.mp4", "out.mov", "OUT.MP4"])
def test_mp4_and_mov_put_the_index_first_for_streaming(tmp_path, name):
    _write(tmp_path / name)
    atoms = _atoms(tmp_path / name)
    assert atoms.index("moov") < atoms.index("mdat"), atoms


@pytest.mark.parametrize(("size", "stream"), [((63, 48), (64, 48)), ((64, 47), (64, 48)), ((64, 48), (64, 48))])
def test_an_odd_side_is_padded_at_the_right_or_bottom_only(tmp_path, size, stream):
    width, height = size
    stripes = np.full((height, width, 3), 128, np.uint8)  # 8 px bands: a row or column moved shows
    stripes[..., 0] = np.where(np.arange(height) // 8 % 2, 200, 60)[:, None]
    stripes[..., 1] = np.where(np.arange(width) // 8 % 2, 200, 60)[None]
    _write(tmp_path / "odd.mp4", n=2, frame=stripes)
    with av.open(str(tmp_path / "odd.mp4")) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == stream
    decoded = read_video(tmp_path / "odd.mp4").astype(int)
    assert decoded.shape[1:3] == (stream[1], stream[0])
    error = np.abs(decoded[:, :height, :width] - stripes).mean(axis=(0, 3))  # (H, W)
    assert error.mean(axis=1).max() < 20 and error.mean(axis=0).max() < 20  # chroma at the bands: 8; one off: 47


def test_a_size_given_up_front_is_width_then_height(tmp_path):
    _write(tmp_path / "wide.mp4", size=(64, 48))
    with pytest.raises(ValueError, match=r"^frame is 64x48 but .* at 48x64; give frames of one size$"):
        _write(tmp_path / "tall.mp4", size=(48, 64))


def test_folders_of_frames_are_marked_as_the_writers(tmp_path):
    _write(tmp_path / "frames")
    assert "(VideoWriter: PNG frames)" in (tmp_path / "frames" / MARKER).read_text()


def test_missing_parent_folders_are_made(tmp_path):
    _write(tmp_path / "a" / "b" / "out.mp4")
    assert (tmp_path / "a" / "b" / "out.mp4").is_file()


def test_a_clips_audio_starts_at_its_own_second(tmp_path):
    """The source plays 400 Hz in second 0, 700 in second 1, 1000 in second 2: a clip written from
    2.0 s starts with 1000 Hz."""
    source = write_clip(tmp_path / "source.mp4", [FRAME] * 20)  # 4 s at 5 fps
    _write(tmp_path / "clip.mp4", n=5, fps=5, audio_from=source, audio_start=2.0)
    assert dominant_pitch(audio_of(tmp_path / "clip.mp4"), 0.1, 0.6) == pytest.approx(pitch(2), abs=15)


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_an_input_is_never_written_over_even_with_overwrite(tmp_path, name):
    target = tmp_path / name
    _write(target)
    with pytest.raises(OutputError):
        VideoWriter(target, fps=10, overwrite=True, inputs=[target])


def _open_descriptors(path: Path) -> list[str]:
    folder = Path("/proc/self/fd")
    if not folder.is_dir():
        pytest.skip("needs /proc/self/fd (Linux)")
    names = []
    for fd in folder.iterdir():
        try:
            names.append(os.readlink(fd))
        except OSError:
            continue
    return [n for n in names if Path(path).name in n]


def test_an_abort_closes_the_file_and_the_writer(tmp_path):
    target = tmp_path / "out.mp4"
    writer = VideoWriter(target, fps=10)
    for _ in range(60):  # past x264's lookahead: packets reach the file
        writer.write(FRAME)
    partial = partial_path(target)
    assert _open_descriptors(partial)  # the partial file is open while writing
    writer.abort()
    assert _open_descriptors(partial) == [] and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"^the writer for .*out\.mp4 is closed$"):
        writer.write(FRAME)


def test_closing_twice_is_harmless_and_a_closed_writer_refuses_frames(tmp_path, caplog):
    target = tmp_path / "out.mp4"
    with caplog.at_level(logging.INFO, logger="fomm.io.writer"):
        writer = _write(target, n=3)
    assert f"wrote 3 frames to {target}" in caplog.messages
    before = target.read_bytes()
    writer.close()
    assert target.read_bytes() == before
    with pytest.raises(ValueError, match=r"^the writer for .*out\.mp4 is closed$"):
        writer.write(FRAME)


# ------------------------------------------------------------------------------ the words of refusals
@pytest.mark.parametrize(("name", "message"), [
    ("-", r"^cannot write video to standard output \(-o -\); give a file name such as out\.mp4$"),
    (".mp4", r"^\.mp4 is only an extension; give a name, e.g\. out\.mp4$"),
    (".gif", r"^\.gif is only an extension; give a name, e.g\. out\.gif$"),
    (".MP4", r"^\.MP4 is only an extension; give a name, e.g\. out\.MP4$"),
    ("out.", r"^out\. ends with a dot; did you mean out\? \(a folder of PNG frames is a name without extension, "
             r"or one ending in /\)$"),
    ("TAX.", r"^TAX\. ends with a dot; did you mean TAX\? "),  # only the dot goes
])
def test_names_that_are_no_video_are_refused_in_words(tmp_path, name, message):
    with pytest.raises(MediaError, match=message):
        VideoWriter(name, fps=10)


def test_a_trailing_slash_is_a_folder_of_frames(tmp_path):
    _write(f"{tmp_path}/clip.mp4/")  # a string: pathlib would drop the trailing /
    assert sorted(p.name for p in (tmp_path / "clip.mp4").iterdir()) == [MARKER, "000000.png", "000001.png"]


@pytest.mark.parametrize(("options", "message"), [
    ({"crf": 52}, r"^crf must be an integer from 0 \(lossless\) to 51, got 52$"),
    ({"crf": -1}, r"^crf must be an integer from 0 \(lossless\) to 51, got -1$"),
    ({"crf": 18.0}, r"^crf must be an integer from 0 \(lossless\) to 51, got 18\.0$"),
    ({"size": (64,)}, r"^size must be \(width, height\) in pixels, got \(64,\)$"),
    ({"size": (64, 0)}, r"^size must be \(width, height\) in pixels, got \(64, 0\)$"),
    ({"size": (64.5, 48)}, r"^size must be \(width, height\) in pixels, got \(64\.5, 48\)$"),
])
def test_bad_settings_are_refused_in_words(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        VideoWriter(tmp_path / "out.mp4", fps=10, **options)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("options", [{"crf": 0}, {"crf": 51}, {"size": (1, 1)}, {"fps": 0.5}])
def test_the_edges_of_the_settings_are_accepted(tmp_path, options):
    frame = np.full((*options.get("size", (64, 48))[::-1], 3), 90, np.uint8)
    _write(tmp_path / "out.mp4", frame=frame, **options)
    assert (tmp_path / "out.mp4").is_file()


def test_too_many_pixels_are_refused_naming_the_output(tmp_path, monkeypatch):
    monkeypatch.setenv("FOMM_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(LimitError, match=r"^.*out\.mp4's frames \(64x48\): 3,072 pixels is over"):
        VideoWriter(tmp_path / "out.mp4", fps=10, size=(64, 48))
    writer = VideoWriter(tmp_path / "out.mp4", fps=10)
    with pytest.raises(LimitError, match=r"^.*out\.mp4's frames \(64x48\): 3,072 pixels is over"):
        writer.write(FRAME)


def test_audio_is_refused_for_a_gif_in_words(tmp_path):
    source = write_clip(tmp_path / "source.mp4", [FRAME] * 5)
    with pytest.raises(MediaError, match=r"^cannot add audio to .*out\.gif: only \.mp4, \.mov, \.mkv outputs carry "
                                         r"sound; drop audio_from or write a video file$"):
        VideoWriter(tmp_path / "out.gif", fps=10, audio_from=source)


@pytest.mark.parametrize("frames", [[FRAME], FRAME])
def test_write_batch_wants_one_array_of_frames(tmp_path, frames):
    writer = VideoWriter(tmp_path / "out.mp4", fps=10)
    shown = re.escape(str(getattr(frames, "shape", frames)))
    with pytest.raises(ValueError, match=rf"^write_batch expects a \(N, H, W, 3\) uint8 array, got {shown}$"):
        writer.write_batch(frames)


@pytest.mark.parametrize(("name", "fps", "warned"), [("out.gif", 60, True), ("out.gif", 50, False),
                                                     ("out.mp4", 60, False)])
def test_a_gif_faster_than_browsers_show_is_warned_about(tmp_path, caplog, name, fps, warned):
    with caplog.at_level(logging.WARNING, logger="fomm.io.writer"):
        VideoWriter(tmp_path / name, fps=fps)
    expected = [f"{tmp_path / name}: GIF cannot show {fps} fps (browsers slow frames shorter than 20 ms down); "
                "write an .mp4 for full speed"]
    assert caplog.messages == (expected if warned else [])


@pytest.mark.parametrize("height, width, padded", [(47, 64, "64x48"), (48, 63, "64x48"), (47, 63, "64x48")])
def test_an_odd_size_is_logged_with_the_size_it_pads_to(tmp_path, caplog, height, width, padded):
    with caplog.at_level(logging.INFO, logger="fomm.io.writer"):
        _write(tmp_path / "odd.mp4", frame=np.zeros((height, width, 3), np.uint8))
    expected = f"{tmp_path / 'odd.mp4'}: {width}x{height} has an odd side; padding to {padded} for yuv420p"
    assert expected in caplog.messages


# ------------------------------------------------------------------------------ the NVENC path
# This machine has no NVENC, so the GPU path is driven with a stand-in: libx264 under NVENC's name, with the
# options nvenc_options() returns recorded. What x264 wrote into the file then shows what the NVENC path
# opened its encoder with (the padded size, nvenc_options' own settings), and a stand-in option x264
# refuses shows the fallback (the warning's words, libx264 at the writer's crf, the encoder it reports).
STAND_IN = CodecChoice(LIBX264, True, "libx264 standing in for h264_nvenc")


@pytest.fixture
def stand_in_nvenc(monkeypatch):
    calls, options = [], {"crf": "33"}
    monkeypatch.setattr(writer_module, "NVENC", LIBX264)

    def nvenc_options(crf, choice):
        calls.append((crf, choice))
        return dict(options)

    monkeypatch.setattr(writer_module, "nvenc_options", nvenc_options)
    return calls, options


def test_the_nvenc_path_opens_its_encoder_at_the_padded_size_with_nvencs_options(tmp_path, stand_in_nvenc, caplog):
    calls, _ = stand_in_nvenc
    with caplog.at_level(logging.WARNING, logger="fomm.io.writer"):
        writer = _write(tmp_path / "gpu.mp4", frame=np.zeros((47, 63, 3), np.uint8), crf=20, encoder=STAND_IN)
    assert calls == [(20, STAND_IN)] and writer.encoder is STAND_IN and caplog.messages == []
    assert _x264_options(tmp_path / "gpu.mp4")["crf"] == "33.0"  # nvenc_options', not the writer's 20
    with av.open(str(tmp_path / "gpu.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height, stream.frames) == (64, 48, 2)


def test_an_nvenc_that_does_not_open_falls_back_to_libx264_at_the_writers_crf(tmp_path, stand_in_nvenc, caplog):
    _, options = stand_in_nvenc
    options["preset"] = "no-such-preset"  # x264 refuses to open with it, as h264_nvenc without a GPU
    with caplog.at_level(logging.WARNING, logger="fomm.io.writer"):
        writer = _write(tmp_path / "gpu.mp4", crf=20, encoder=STAND_IN)
    [message] = caplog.messages
    found = re.fullmatch(rf"{re.escape(str(tmp_path / 'gpu.mp4'))}: NVENC does not open \((.+)\); "
                         r"encoding with libx264 on the CPU", message)
    assert found and found.group(1) != "None", message
    assert writer.encoder is CPU_ENCODING and _x264_options(tmp_path / "gpu.mp4")["crf"] == "20.0"
    assert len(read_video(tmp_path / "gpu.mp4")) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["gpu.mp4"]
    required = CodecChoice(LIBX264, True, "asked for", required=True)
    with pytest.raises(CodecUnavailable) as refused:
        _write(tmp_path / "required.mp4", encoder=required)
    assert re.fullmatch(rf"codec_device='cuda': NVENC does not open for {re.escape(str(tmp_path / 'required.mp4'))}"
                        r" \((.+)\); use codec_device='auto' .+", str(refused.value))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu.mp4"]


def test_a_gif_has_no_transparent_pixels(tmp_path):
    """Each frame's palette is opaque: a viewer shows every pixel, not the page behind it."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]  # 256 colours in use
    with VideoWriter(tmp_path / "out.gif", fps=10) as writer:
        writer.write_batch(np.stack(frames))
    with av.open(str(tmp_path / "out.gif")) as container:
        alpha = [f.to_ndarray(format="rgba")[..., 3] for f in container.decode(video=0)]
    assert len(alpha) == 2 and all((a == 255).all() for a in alpha)


def test_an_error_closing_a_discarded_output_is_logged_not_raised(tmp_path, caplog):
    class Failing:
        def close(self):
            raise RuntimeError("boom")

    writer = VideoWriter(tmp_path / "out.mp4", fps=10)
    writer.write(FRAME)
    writer._audio = Failing()  # an audio copy that cannot close
    with caplog.at_level(logging.DEBUG, logger="fomm.io.writer"):
        writer.abort()
    assert f"ignoring RuntimeError('boom') while discarding {partial_path(tmp_path / 'out.mp4')}" in caplog.messages
    assert list(tmp_path.iterdir()) == []
