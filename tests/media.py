"""Tiny generated media for tests, written with PyAV and Pillow directly (not with ``fomm.io``), so the
readers are checked against files made independently of the writers.

Every frame from :func:`pattern_frame` carries its index as a gray level that survives lossy coding
(read it back with :func:`pattern_index`) and a red block in the top-left quarter that shows
orientation.

    from tests.media import make_video
    clip = make_video(tmp_path / "clip.mp4", n=10, audio=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

LEVEL_BASE, LEVEL_STEP = 16, 8  # gray level of frame i: 16 + 8 i, so up to 30 frames stay below 256
MAX_PATTERN_FRAMES = (255 - LEVEL_BASE) // LEVEL_STEP + 1
# Encoder and options per container: high quality, so that pattern levels survive.
VIDEO_CODECS = {
    ".mp4": ("libx264", {"crf": "12", "preset": "ultrafast"}),
    ".avi": ("mpeg4", {"qscale": "2"}),
    ".webm": ("libvpx-vp9", {"crf": "10", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
}


def pattern_frame(i: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """Frame ``i`` of a test clip: (H, W, 3) uint8, gray level encoding ``i``, red top-left quarter."""
    if not 0 <= i < MAX_PATTERN_FRAMES:
        raise ValueError(f"pattern frames encode indices 0..{MAX_PATTERN_FRAMES - 1}, got {i}")
    width, height = size
    frame = np.full((height, width, 3), LEVEL_BASE + LEVEL_STEP * i, np.uint8)
    frame[: height // 2, : width // 2] = (255, 0, 0)
    return frame


def pattern_index(frame: np.ndarray) -> int:
    """The index :func:`pattern_frame` encoded, read from the gray bottom-right quarter."""
    height, width = frame.shape[:2]
    level = frame[height // 2 + 2 :, width // 2 + 2 :].mean()
    return round((level - LEVEL_BASE) / LEVEL_STEP)


def red_quadrant(frame: np.ndarray) -> str:
    """Which quarter of ``frame`` holds the red marker: 'top-left', 'top-right', 'bottom-left', ..."""
    height, width = frame.shape[:2]
    quarters = {
        "top-left": frame[: height // 2, : width // 2],
        "top-right": frame[: height // 2, width // 2 :],
        "bottom-left": frame[height // 2 :, : width // 2],
        "bottom-right": frame[height // 2 :, width // 2 :],
    }
    redness = {name: q[..., 0].mean() - q[..., 1].mean() for name, q in quarters.items()}
    return max(redness, key=redness.__getitem__)


def make_video(
    path: str | Path,
    n: int = 10,
    size: tuple[int, int] = (64, 48),
    fps: float | Fraction = 25,
    audio: bool = False,
    audio_codec: str = "aac",
    sample_rate: int = 16000,
    rotation: int = 0,
    times: Sequence[float] | None = None,
    faststart: bool = True,
) -> Path:
    """Encode ``n`` pattern frames. mp4/mov/mkv get H.264, .avi MPEG-4 part 2, .webm VP9 (all yuv420p);
    ``audio`` adds a 440 Hz sine of the video's length. ``rotation`` sets a display matrix
    (counter-clockwise degrees, as phones write them). ``times`` gives each frame's timestamp in seconds
    for a variable-frame-rate clip."""
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001 * 1000)
    time_base = Fraction(1, 1000) if times is not None else 1 / rate
    options = {"movflags": "+faststart"} if faststart and path.suffix in (".mp4", ".mov") else {}
    codec, codec_options = VIDEO_CODECS.get(path.suffix, VIDEO_CODECS[".mp4"])
    with av.open(str(path), "w", options=options) as container:
        video = container.add_stream(codec, rate=rate, options=codec_options)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        if times is not None:
            video.codec_context.time_base = time_base
        if rotation:
            video.set_display_rotation(rotation)
        sound = None
        if audio:
            sound = container.add_stream(audio_codec, rate=sample_rate, layout="mono")
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(pattern_frame(i, size), format="rgb24")
            frame.pts = round(times[i] / time_base) if times is not None else i
            frame.time_base = time_base
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            seconds = (times[-1] + 1 / float(rate)) if times is not None else n / float(rate)
            _encode_sine(container, sound, seconds, sample_rate)
    return path


def make_audio(path: str | Path, seconds: float = 1.0, codec: str = "pcm_s16le", sample_rate: int = 16000) -> Path:
    """An audio-only file (e.g. ``.wav`` with PCM, ``.m4a`` with aac) holding a 440 Hz sine."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        sound = container.add_stream(codec, rate=sample_rate, layout="mono")
        _encode_sine(container, sound, seconds, sample_rate)
    return path


def _encode_sine(container, stream, seconds: float, sample_rate: int) -> None:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    chunk = 1024
    for start in range(0, len(samples), chunk):
        frame = av.AudioFrame.from_ndarray(samples[None, start : start + chunk], format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, start, Fraction(1, sample_rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def make_gif(path: str | Path, n: int = 8, size: tuple[int, int] = (64, 48), fps: float = 10) -> Path:
    """An animated GIF of ``n`` pattern frames at ``fps`` (GIF delays are whole centiseconds)."""
    path = Path(path)
    frames = [Image.fromarray(pattern_frame(i, size)) for i in range(n)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    return path


def make_frame_folder(
    path: str | Path, n: int = 5, size: tuple[int, int] = (64, 48), ext: str = "png", names: Sequence[str] = ()
) -> Path:
    """A folder of pattern frames, named ``frame1.png``, ``frame2.png``, ... (deliberately not zero-padded,
    so only a natural sort gets the order right), or ``names`` if given."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    names = list(names) or [f"frame{i + 1}.{ext}" for i in range(n)]
    for i, name in enumerate(names):
        Image.fromarray(pattern_frame(i, size)).save(path / name)
    return path


def make_image(
    path: str | Path, size: tuple[int, int] = (64, 48), mode: str = "RGB", exif_orientation: int | None = None
) -> Path:
    """A still image of pattern frame 0 converted to ``mode`` ('RGB', 'RGBA' with a transparent
    right half, 'L', 'P', 'I;16', ...), optionally tagged with an EXIF orientation (6: the camera was
    turned, view it rotated 90 degrees clockwise)."""
    path = Path(path)
    image = Image.fromarray(pattern_frame(0, size))
    if mode == "RGBA":
        rgba = np.dstack([np.asarray(image), np.full(image.size[::-1], 255, np.uint8)])
        rgba[:, size[0] // 2 :, 3] = 0
        image = Image.fromarray(rgba, "RGBA")
    elif mode == "P":
        image = image.quantize(16)  # an adaptive palette: the two colors stay exact
    elif mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
    else:
        image = image.convert(mode)
    if exif_orientation is None:
        image.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation  # the Orientation tag
        image.save(path, exif=exif)
    return path


def truncate(path: str | Path, keep: float = 2 / 3) -> Path:
    """Cut a file to its first ``keep`` fraction of bytes, as an interrupted download or copy would."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
