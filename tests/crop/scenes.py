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
