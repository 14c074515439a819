"""Scenes with a real photograph at a known place: scikit-image's ``astronaut`` (512x512, shipped in the
wheel, read offline) scaled and pasted into larger canvases, so the true face position is known.

The face's center and size in the 512x512 photo were read off the picture by eye (the face spans
about x 180..270, y 62..168), independently of any detector."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import data

FACE_CENTER = (225.0, 115.0)  # (x, y) in the 512x512 photo
FACE_SIZE = 95.0  # brow-to-chin height in the 512x512 photo
BACKGROUND = (70, 90, 110)


def astronaut(side: int = 256) -> np.ndarray:
    image = data.astronaut()
    if side == image.shape[0]:
        return image
    return np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.LANCZOS))


def place(canvas: tuple[int, int], side: int, x: int, y: int,
          photo: np.ndarray | None = None) -> tuple[np.ndarray, tuple[float, float], float]:
    """A (H, W) = ``canvas`` image with the astronaut (``side`` px) at top-left (x, y); returns the
    image, the true face center (x, y) and the true face size, in canvas pixels."""
    height, width = canvas
    image = np.empty((height, width, 3), np.uint8)
    image[:] = BACKGROUND
    photo = astronaut(side) if photo is None else photo
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, width), min(y + side, height)
    image[y0:y1, x0:x1] = photo[y0 - y : y1 - y, x0 - x : x1 - x]
    scale = side / 512
    return image, (x + FACE_CENTER[0] * scale, y + FACE_CENTER[1] * scale), FACE_SIZE * scale


def moving_frames(n: int = 20, jump: int = 10, blank: int | None = 14, canvas=(300, 400)):
    """The astronaut (256 px) gliding right, jumping right at frame ``jump``, gone at frame ``blank``:
    (frames, true face centers, true face sizes)."""
    photo = astronaut(256)
    frames, centers, sizes = [], [], []
    for i in range(n):
        x, y = (20 + 4 * i, 30) if i < jump else (130 + 2 * i, 20)
        image, center, size = place(canvas, 256, x, y, photo)
        if i == blank:
            image[:] = 100
        frames.append(image)
        centers.append(center)
        sizes.append(size)
    return frames, centers, sizes


def write_video(path, frames, fps: int = 10, audio: bool = True):
    """An H.264 mp4 of ``frames`` (with a 440 Hz tone as long as the video), written with PyAV directly."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "12", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        sound = container.add_stream("aac", rate=16000, layout="mono") if audio else None
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            samples = int(16000 * len(frames) / fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)).astype(np.float32)[None]
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start : start + 1024]), format="flt",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path
