"""Pixels: cutting a square crop out of a frame, and pasting an animated crop back into the photo."""

from __future__ import annotations

import numpy as np

from .box import Box, CropError


def _cv2():
    from .detect import _cv2

    return _cv2()


def square_pixels(box: Box) -> Box:
    """``box`` as whole pixels with equal sides: the corner rounded, the side rounded (at least 1)."""
    side = max(1, round(max(box.w, box.h)))
    return Box(float(round(box.x)), float(round(box.y)), float(side), float(side), float(box.score))


def user_box(box: Box, width: int, height: int) -> Box:
    """A box given by hand, checked against the image and made square around its center by growing its
    shorter side (so it is never stretched)."""
    box.check_inside(width, height, "--crop box")
    side = max(box.w, box.h)
    cx, cy = box.center
    return square_pixels(Box(cx - side / 2, cy - side / 2, side, side, box.score))


def crop_square(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The (size, size, 3) uint8 crop of ``image`` under the square ``box`` (rounded to whole pixels);
    the parts of the box outside the image are black. Shrinking averages pixels (no aliasing)."""
    box = square_pixels(box)
    height, width = image.shape[:2]
    x0, y0, side = int(box.x), int(box.y), int(box.w)
    if x0 >= width or y0 >= height or x0 + side <= 0 or y0 + side <= 0:
        raise CropError(f"crop box {box.describe()} is outside the {width}x{height} frame; give a box inside it")
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    if (ix0, iy0, ix1, iy1) == (x0, y0, x0 + side, y0 + side):
        square = image[iy0:iy1, ix0:ix1]
    else:
        square = np.zeros((side, side, 3), np.uint8)
        square[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = image[iy0:iy1, ix0:ix1]
    if side == size:
        return np.ascontiguousarray(square).copy()
    cv2 = _cv2()
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(square), (size, size), interpolation=interpolation)


def feather_mask(side: int, feather: float) -> np.ndarray:
    """(side, side) float32 weights: 1 inside, falling smoothly to 0 at the edges over ``feather`` of the
    side (0: a hard edge)."""
    width = feather * side
    t = np.arange(side, dtype=np.float32) + 0.5
    distance = np.minimum(t, side - t)  # to the nearest edge, in pixels
    ramp = np.ones(side, np.float32) if width <= 0 else np.clip(distance / width, 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible seam where the ramp starts
    return np.outer(ramp, ramp)


class PasteBack:
    """Blends animated crops back into the full-resolution ``photo`` at ``box`` (where they were cut).

    Each call takes one animated crop (S, S, 3) uint8 and returns a frame of the photo's size in which
    every pixel outside the box is the photo's own. Inside, the crop is resized to the box and blended
    with a feathered edge (``feather``: the fraction of the side over which it fades). ``color``: keep
    colors consistent with the photo: the crop is shifted by the mean color difference measured in its
    feathered border (where the animation should match the photo), averaged over frames so it does not
    flicker. Usable on any frame stream: ``map(PasteBack(photo, box), crops)``.
    """

    def __init__(self, photo: np.ndarray, box: Box, *, feather: float = 0.12, color: bool = True,
                 smoothing: float = 0.8):
        if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise CropError(f"paste-back needs the photo as uint8 (H, W, 3), got {getattr(photo, 'shape', photo)}")
        self.photo = photo
        self.box = square_pixels(box)
        height, width = photo.shape[:2]
        x0, y0, side = int(self.box.x), int(self.box.y), int(self.box.w)
        ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
        if ix0 >= ix1 or iy0 >= iy1:
            raise CropError(f"paste-back box {self.box.describe()} is outside the {width}x{height} photo")
        self.side = side
        self.region = (slice(iy0, iy1), slice(ix0, ix1))  # in the photo
        self.inner = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))  # in the box
        self.alpha = feather_mask(side, feather)[self.inner][..., None]  # (h, w, 1)
        self.background = photo[self.region].astype(np.float32)
        band = self.alpha[..., 0] * (1 - self.alpha[..., 0])  # weights peak mid-way through the feather
        self.band = band / band.sum() if band.sum() > 0 else None
        self.color = color and self.band is not None
        self.smoothing = smoothing
        self.offset: np.ndarray | None = None  # the running color correction, (3,)

    def __call__(self, crop: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """The photo (or ``base``, a frame of its size, e.g. with other faces already pasted) with
        ``crop`` blended in at the box; ``base`` is not modified."""
        cv2 = _cv2()
        if crop.shape[:2] != (self.side, self.side):
            interpolation = cv2.INTER_CUBIC if self.side > crop.shape[0] else cv2.INTER_AREA
            crop = cv2.resize(np.ascontiguousarray(crop), (self.side, self.side), interpolation=interpolation)
        animated = crop[self.inner].astype(np.float32)
        if self.color:
            offset = np.tensordot(self.band, self.background - animated, axes=([0, 1], [0, 1]))  # (3,)
            if self.offset is not None:
                offset = self.smoothing * self.offset + (1 - self.smoothing) * offset
            self.offset = offset
            animated += self.offset
        under = self.background if base is None else base[self.region].astype(np.float32)
        blended = under + self.alpha * (animated - under)
        out = (self.photo if base is None else base).copy()
        out[self.region] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return out

    def reset(self) -> None:
        """Forget the running color correction (e.g. at a cut)."""
        self.offset = None


def paste_back(crops, photo: np.ndarray, box: Box, **options):
    """Each animated crop of the stream ``crops`` pasted into ``photo`` at ``box`` (see :class:`PasteBack`)."""
    paste = PasteBack(photo, box, **options)
    for crop in crops:
        yield paste(crop)
