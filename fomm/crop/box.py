"""Boxes in pixel coordinates of the original image, and the square crop framed like the training data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ..errors import FommError


class CropError(FommError, ValueError):
    """A crop cannot be made: no subject found, a box outside the image, bad crop options.

    The message names the problem and what to pass instead."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned box: top-left corner ``(x, y)``, width ``w`` and height ``h`` in pixels of the
    original image (x to the right, y down; the box covers columns x .. x + w). ``score``: the
    detector's confidence (higher is surer; 0 for boxes that were not detected, e.g. interpolated).
    ``landmarks``: a face detector's five points (eye, eye, nose tip, mouth corner, mouth corner as
    x0, y0, ..., x4, y4 in pixels, the eye on the image's left first), None where it gives none.
    ``angle``: the box's tilt in degrees, positive clockwise as shown (y grows down): for a face, its
    roll as :func:`fomm.crop.detect.face_roll` measures it (0 where it was not measured); for a
    crop, the turn of the square, so that a tilted face comes out level; 0 for an upright box."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
    landmarks: tuple[float, ...] | None = field(default=None, repr=False)
    angle: float = 0.0

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.right and self.y <= y <= self.bottom

    def intersection(self, other: Box) -> float:
        w = min(self.right, other.right) - max(self.x, other.x)
        h = min(self.bottom, other.bottom) - max(self.y, other.y)
        return max(w, 0.0) * max(h, 0.0)

    def iou(self, other: Box) -> float:
        """Intersection over union, 0 for disjoint boxes."""
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def union(self, other: Box) -> Box:
        """The smallest box holding both (the original crop tool's "tube" box)."""
        x, y = min(self.x, other.x), min(self.y, other.y)
        right, bottom = max(self.right, other.right), max(self.bottom, other.bottom)
        return Box(x, y, right - x, bottom - y, min(self.score, other.score))

    def with_score(self, score: float) -> Box:
        return replace(self, score=score)

    def moved(self, dx: float, dy: float, scale: float = 1.0) -> Box:
        """The box (and its landmarks) scaled by ``scale`` about the origin, then shifted by (dx, dy)."""
        points = None if self.landmarks is None else tuple(
            v * scale + (dx if i % 2 == 0 else dy) for i, v in enumerate(self.landmarks))
        return replace(self, x=self.x * scale + dx, y=self.y * scale + dy, w=self.w * scale, h=self.h * scale,
                       landmarks=points)

    def rounded(self) -> Box:
        """Integer corners (pixels a crop takes), keeping the score."""
        x0, y0 = math.floor(self.x + 0.5), math.floor(self.y + 0.5)
        x1, y1 = math.floor(self.right + 0.5), math.floor(self.bottom + 0.5)
        return Box(x0, y0, x1 - x0, y1 - y0, self.score, angle=self.angle)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.w, self.h

    def check_inside(self, width: int, height: int, what: str = "box") -> None:
        """Raise :class:`CropError` unless the box is non-empty and overlaps the (width, height) image."""
        if self.w <= 0 or self.h <= 0:
            raise CropError(f"{what} {self.describe()} is empty; give a positive width and height")
        if self.right <= 0 or self.bottom <= 0 or self.x >= width or self.y >= height:
            raise CropError(f"{what} {self.describe()} is outside the {width}x{height} image; give X,Y,W,H with "
                            f"0 <= X < {width} and 0 <= Y < {height}")

    def describe(self) -> str:
        return f"{self.x:g},{self.y:g},{self.w:g},{self.h:g}"


def parse_box(text: str) -> Box:
    """``"X,Y,W,H"`` (pixels, numbers) -> :class:`Box`, or :class:`CropError` naming the format."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise CropError(f"expected a box as X,Y,W,H in pixels (e.g. 120,40,256,256), got {text!r}")
    box = Box(*values)
    if box.w <= 0 or box.h <= 0:
        raise CropError(f"box {text!r} is empty; give a positive width and height")
    return box


def frame_box(box: Box, margin: float, width: int | None = None, height: int | None = None,
              shift_up: float = 0.0) -> Box:
    """The square crop for a subject's box, framed like the training data.

    The box grows by ``margin`` times its size on each side (the original crop tool's ``--increase``)
    and its shorter side grows to make a square (never stretched); ``shift_up`` moves the square up by
    that fraction of its side (a face's box sits low in the head). With the image size given, the
    square is moved inside the image where it fits (instead of being clipped to a non-square, the
    original's flaw); a square larger than the image stays centered and is padded when cropped.
    """
    side = max(box.w, box.h) * (1 + 2 * margin)
    cx, cy = box.center
    cy -= shift_up * side
    x, y = cx - side / 2, cy - side / 2
    if width is not None and height is not None:
        x = _fit(x, side, width)
        y = _fit(y, side, height)
    return Box(float(x), float(y), float(side), float(side), box.score, angle=box.angle)


def _fit(start: float, side: float, limit: int) -> float:
    if side >= limit:
        return (limit - side) / 2
    return min(max(start, 0.0), limit - side)
