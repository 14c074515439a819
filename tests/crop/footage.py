"""Driving footage whose every answer is known by construction (issue 30): the astronaut at known
places with blank frames before and after her, a jump between two places, and audio whose pitch
changes every second, so a clip's audio offset can be read back; plus the framing the training data
asks for, from the scene's known face centre and size alone.

The framing (VoxCeleb's): the face (brow to chin) is about 0.45 of the square crop's side, its centre
on the crop's vertical centre line and 5% of the side below its horizontal one (the head's centre
sits a little above the frame's). A segment has one fixed crop (motion inside it stays motion): a
still's framing of the face, grown where the face moves until the union of its boxes fills at most
0.8 of the side (up to 1.5 times the still's side), centred on that union.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from fomm.crop import Box

from .scenes import BACKGROUND, astronaut, place

FACE_SHARE = 1 / 2.2  # the face's size over the crop's side
FACE_BELOW = 0.05  # the face centre's offset below the crop's centre, in sides
HOLD, MAX_ZOOM = 0.8, 1.5  # a moving face's boxes fill at most this much of the side; growth at most this
CANVAS = (360, 480)
SIDE = 256  # the astronaut's picture: her face is 47.5 px
FPS = 5
MISSED = 6  # a blank frame inside the first segment (interpolated over, not a cut)
RATE = 16000


def pitch(second: int) -> float:
    """The tone of the driving audio during its ``second``-th second (Hz)."""
    return 400.0 + 300.0 * second


@dataclass
class Footage:
    """A driving clip: ``frames``, per frame the true face (centre, size) or None where there is none,
    ``segments``: the (start, end) frame runs the face holds still enough for one crop."""

    frames: list[np.ndarray]
    faces: list[tuple[tuple[float, float], float] | None]
    segments: list[tuple[int, int]]
    absent: list[int]  # frames outside every segment: no subject to animate


def driving_footage() -> Footage:
    """20 frames at 5 fps: 2 blank, 8 of the face gliding right 2 px a frame (one of them, frame
    :data:`MISSED`, blank: a miss inside the segment), a jump, 8 more, 2 blank."""
    photo = astronaut(SIDE)
    frames, faces = [], []
    for i in range(20):
        if i < 2 or i >= 18 or i == MISSED:
            image = np.empty((*CANVAS, 3), np.uint8)
            image[:] = BACKGROUND
            frames.append(image)
            faces.append(None)
            continue
        x, y = (40 + 2 * (i - 2), 60) if i < 10 else (200 + 2 * (i - 10), 80)
        image, center, size = place(CANVAS, SIDE, x, y, photo)
        frames.append(image)
        faces.append((center, size))
    return Footage(frames, faces, [(2, 10), (10, 18)], [i for i in range(20) if i < 2 or i >= 18])


def expected_crop(faces: list[tuple[tuple[float, float], float]]) -> Box:
    """The square a segment with these true faces (None: a frame without one) should be cut with (see
    the module's docstring)."""
    faces = [f for f in faces if f is not None]
    left = min(c[0] - s / 2 for c, s in faces)
    right = max(c[0] + s / 2 for c, s in faces)
    top = min(c[1] - s / 2 for c, s in faces)
    bottom = max(c[1] + s / 2 for c, s in faces)
    still = float(np.median([s for _, s in faces])) / FACE_SHARE
    side = min(max(still, max(right - left, bottom - top) / HOLD), MAX_ZOOM * still)
    cx, cy = (left + right) / 2, (top + bottom) / 2 - FACE_BELOW * side
    return Box(cx - side / 2, cy - side / 2, side, side)


def assert_framed(crop: Box, expected: Box, what: str, centre_tolerance: float = 0.04,
                  sides: tuple[float, float] = (0.92, 1.15)) -> None:
    """``crop`` frames like ``expected``: centres within ``centre_tolerance`` of the side, side within
    ``sides`` times the expected one (detectors' boxes run up to 10% larger than brow-to-chin)."""
    dx, dy = crop.center[0] - expected.center[0], crop.center[1] - expected.center[1]
    assert abs(dx) <= centre_tolerance * expected.w and abs(dy) <= centre_tolerance * expected.w, \
        f"{what}: crop {crop.describe()} is off-centre by ({dx:.1f}, {dy:.1f}) px; expected about {expected.describe()}"
    ratio = max(crop.w, crop.h) / expected.w
    assert sides[0] <= ratio <= sides[1], f"{what}: crop side {crop.w:g} is {ratio:.2f}x the expected {expected.w:.1f}"


def write_clip(path: Path, frames: list[np.ndarray], fps: int = FPS) -> Path:
    """An H.264 mp4 of ``frames`` with a mono AAC track that plays :func:`pitch` (second) each second."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "12", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        sound = container.add_stream("aac", rate=RATE, layout="mono")
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        t = np.arange(int(RATE * len(frames) / fps)) / RATE
        tone = (0.3 * np.sin(2 * np.pi * np.cumsum(pitch_at(t)) / RATE)).astype(np.float32)[None]
        for start in range(0, tone.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start : start + 1024]), format="flt",
                                               layout="mono")
            chunk.sample_rate, chunk.pts = RATE, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    return path


def pitch_at(t: np.ndarray) -> np.ndarray:
    return pitch(0) + 300.0 * np.floor(t)


def audio_of(path: Path) -> np.ndarray:
    """The first audio track of ``path`` as mono float samples at :data:`RATE` Hz."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [r.to_ndarray().reshape(-1) for f in container.decode(audio=0) for r in resampler.resample(f)]
    return np.concatenate(chunks)


def dominant_pitch(samples: np.ndarray, start: float, end: float) -> float:
    """The strongest frequency (Hz) of ``samples`` between ``start`` and ``end`` seconds."""
    window = samples[int(start * RATE) : int(end * RATE)]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.fft.rfftfreq(len(window), 1 / RATE)[np.argmax(spectrum)])
