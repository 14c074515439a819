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


def write_video(path, frames, fps: int = 10, audio: bool = True, tone: float = 440.0):
    """An H.264 mp4 of ``frames`` (with a ``tone`` Hz sine as long as the video), written with PyAV directly."""
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
            wave = (0.3 * np.sin(2 * np.pi * tone * np.arange(samples) / 16000)).astype(np.float32)[None]
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, start : start + 1024]), format="flt",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


# ------------------------------------------------------------- photographs under known transforms
# The faces of scikit-image's photographs, read off the pictures by eye (center x, y; brow-to-chin
# size), independently of any detector: the astronaut (frontal) and the cameraman (three-quarter view).
PHOTO_FACES = {"astronaut": ((225.0, 115.0), 95.0), "camera": ((222.0, 157.0), 75.0)}


def photo(name: str) -> np.ndarray:
    image = getattr(data, name)()
    return np.dstack([image] * 3) if image.ndim == 2 else image


def clutter(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A busy background of real textures (scikit-image's brick, gravel, grass, coffee and cat photos,
    tiled at random), so detectors face edges and a cat's face, not a flat colour."""
    rng = np.random.default_rng(seed)
    height, width = shape
    tiles = [photo(n) for n in ("brick", "gravel", "grass", "coffee", "chelsea")]
    canvas = np.empty((height, width, 3), np.uint8)
    for y in range(0, height, 160):
        for x in range(0, width, 160):
            tile = tiles[rng.integers(len(tiles))]
            ty, tx = rng.integers(0, tile.shape[0] - 160), rng.integers(0, tile.shape[1] - 160)
            part = tile[ty : ty + 160, tx : tx + 160]
            canvas[y : y + 160, x : x + 160] = part[: height - y, : width - x]
    return canvas


def transformed(name: str, *, roll: float = 0.0, turn: float = 0.0, face_px: float = 90.0, light: float = 1.0,
                canvas: tuple[int, int] = (480, 640), at: tuple[float, float] = (0.5, 0.45),
                seed: int = 0) -> tuple[np.ndarray, tuple[float, float], float]:
    """A photograph's face placed among clutter by a known transform: scaled so the face is ``face_px``
    tall, rolled by ``roll`` degrees (clockwise as shown), turned by a perspective warp (``turn`` in
    [0, 1): how much narrower the photo's right edge appears, as a head turned away), darkened to
    ``light`` of its brightness, its face centred at ``at`` (fractions of the canvas). Returns the
    image, the true face center (x, y) and size, in canvas pixels, from the same transform."""
    import cv2

    image = photo(name)
    (fx, fy), size = PHOTO_FACES[name]
    h, w = image.shape[:2]
    # the turn: a homography that squeezes the right side (in height and width) about the face
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    squeeze = turn * h / 2
    dst = np.float32([[0, 0], [w * (1 - turn / 2), squeeze], [w * (1 - turn / 2), h - squeeze], [0, h]])
    turn_m = cv2.getPerspectiveTransform(src, dst)
    # then scale and roll about the face, and move the face to its place
    scale = face_px / size
    cx, cy = at[0] * canvas[1], at[1] * canvas[0]
    affine = cv2.getRotationMatrix2D((0, 0), -roll, scale)
    full = np.vstack([affine, [0, 0, 1]]) @ turn_m
    face = full @ np.array([fx, fy, 1.0])
    shift = np.array([[1, 0, cx - face[0] / face[2]], [0, 1, cy - face[1] / face[2]], [0, 0, 1]])
    full = shift @ full
    height, width = canvas
    warped = cv2.warpPerspective(image, full, (width, height), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full((h, w), 255, np.uint8), full, (width, height)) > 127
    scene = clutter(canvas, seed)
    scene[inside] = warped[inside]
    if light != 1.0:
        scene = np.clip(scene.astype(np.float32) * light, 0, 255).astype(np.uint8)

    def project(x: float, y: float) -> np.ndarray:
        p = full @ np.array([x, y, 1.0])
        return p[:2] / p[2]

    center = project(fx, fy)
    true_size = float(np.linalg.norm(project(fx, fy + size / 2) - project(fx, fy - size / 2)))
    return scene, (float(center[0]), float(center[1])), true_size


def found(boxes, center: tuple[float, float], size: float):
    """The box among ``boxes`` that holds the true face: it contains the center and has its size (0.5 to
    2 times), or None."""
    for box in boxes:
        if box.contains(*center) and 0.5 * size <= max(box.w, box.h) <= 2.0 * size:
            return box
    return None
