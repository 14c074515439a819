"""How subjects are found, tracked, split and framed: the one options object of the crop package,
shared by ``fomm crop``, ``fomm animate --crop auto`` (through :mod:`fomm.pipeline`) and the app; the
detector is reached through it (:meth:`CropOptions.detect`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .box import Box, CropError, frame_box
from .detect import TARGETS, detect, face_roll
from .image import square_pixels

# How the training data is framed, per target: the subject's box grows by ``margin`` of its size on
# each side and the square moves up by ``shift_up`` of its side. For faces the detectors' boxes cover
# brows to chin, and VoxCeleb frames show the whole head with some neck: the face box is about 0.45 of
# the crop's side, the head's center a little above the frame's. TaiChi frames hold the whole person.
FRAMING = {"face": (0.6, 0.05), "person": (0.1, 0.0)}
LEVEL_MIN = 10.0  # degrees: a face tilted less is cropped upright (face_roll is good to about 5 degrees)


@dataclass
class CropOptions:
    """How subjects are found, tracked, split and framed (shared by ``fomm crop``, ``fomm animate
    --crop auto`` and the app).

    ``target``: "face" or "person". ``size``: the side of the square crops written. ``margin``: the box
    grows by this fraction of its size on each side before it is made square (default: 0.6 for faces, 0.1
    for people, see ``FRAMING``). ``min_frames``: segments shorter than this are skipped. ``max_zoom``: a
    segment's crop may grow to this many times a still's framing to hold the subject's motion (beyond that a
    new segment starts). ``iou_threshold``: instead, a segment ends where the subject overlaps its initial
    box by less (the original's ``--iou_with_initial``, e.g. 0.25). ``max_gap``: frames a subject may stay
    unseen before its track ends (shorter gaps are interpolated). ``smooth``: the standard deviation, in
    frames, of the Gaussian that smooths the boxes over time (0: off). ``full_every``: a full-frame
    detection every this many frames (the others search near the tracks). ``backend``: face detector
    ("auto", "haar", ...). ``max_side``: detection runs on frames downscaled to this longer side. ``level``:
    a face tilted by more than ``LEVEL_MIN`` degrees (by its eye landmarks, where the detector gives them)
    is cropped turned so it comes out level, as the training faces are; a video's segment is turned by its
    median tilt, once.
    """

    target: str = "face"
    size: int = 256
    margin: float | None = None
    min_frames: int = 1
    max_zoom: float = 1.5
    iou_threshold: float | None = None
    max_gap: int = 15
    smooth: float = 2.0
    full_every: int = 15
    backend: str = "auto"
    max_side: int = 640
    level: bool = True

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise CropError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.size < 1:
            raise CropError(f"size must be a positive number of pixels, got {self.size}")
        if self.margin is not None and self.margin < 0:
            raise CropError(f"margin must be >= 0 (a fraction of the box's size), got {self.margin}")
        if self.iou_threshold is not None and not 0 <= self.iou_threshold < 1:
            raise CropError(f"iou_threshold must be in [0, 1), got {self.iou_threshold}")
        if not self.max_zoom >= 1:
            raise CropError(f"max_zoom must be >= 1 (1: a still's framing), got {self.max_zoom}")
        if self.min_frames < 1 or self.max_gap < 0 or self.full_every < 1 or self.smooth < 0:
            raise CropError("min_frames and full_every must be >= 1, max_gap and smooth >= 0")

    @property
    def framing(self) -> tuple[float, float]:
        margin, shift_up = FRAMING[self.target]
        return (margin if self.margin is None else self.margin), shift_up

    def crop_box(self, box: Box, width: int, height: int) -> Box:
        """The square crop framing ``box`` in a (width, height) frame (see :func:`frame_box`)."""
        margin, shift_up = self.framing
        angle = box.angle if self.level and abs(box.angle) >= LEVEL_MIN else 0.0
        return square_pixels(frame_box(replace(box, angle=angle), margin, width, height, shift_up))

    def level_boxes(self, image: np.ndarray, boxes: list[Box]) -> list[Box]:
        """``boxes`` with each face's tilt measured (:func:`face_roll`) when ``level`` (else as they are)."""
        if not (self.level and self.target == "face"):
            return boxes
        return [replace(b, angle=face_roll(image, b, self.backend)) for b in boxes]

    def detect(self, image: np.ndarray, **options) -> list[Box]:
        if self.target == "face":
            options.setdefault("backend", self.backend)
        options.setdefault("max_side", self.max_side)
        return detect(image, self.target, **options)


