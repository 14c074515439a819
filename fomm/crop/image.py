"""Pixels: cutting a square crop out of a frame, and pasting an animated crop back into the photo."""

from __future__ import annotations

import numpy as np

from ..limits import check_pixels
from .box import Box, CropError


def _cv2():
    from .detect import _cv2

    return _cv2()


def square_pixels(box: Box) -> Box:
    """``box`` as whole pixels with equal sides: the corner rounded, the side rounded (at least 1)."""
    side = max(1, round(max(box.w, box.h)))
    return Box(float(round(box.x)), float(round(box.y)), float(side), float(side), float(box.score), angle=box.angle)


def user_box(box: Box, width: int, height: int) -> Box:
    """A box given by hand, checked against the image and made square around its center by growing its
    shorter side (so it is never stretched)."""
    box.check_inside(width, height, "--crop box")
    side = max(box.w, box.h)
    cx, cy = box.center
    return square_pixels(Box(cx - side / 2, cy - side / 2, side, side, box.score))


def turn_matrix(angle: float, side_from: float, side_to: float) -> np.ndarray:
    """The 2x3 affine map from a square of ``side_from`` pixels to the one of ``side_to`` pixels with the
    same centre, turned by ``angle`` degrees: its x axis points along (cos, sin) of the angle in image
    coordinates (y down), the direction of a face's eye line whose roll is ``angle``."""
    cv2 = _cv2()
    matrix = cv2.getRotationMatrix2D((side_from / 2, side_from / 2), -angle, 1.0)
    matrix[:, 2] += (side_to - side_from) / 2
    return matrix


def _turned_region(box: Box) -> Box:
    """The axis-aligned square, same centre, that holds ``box`` turned by its angle (whole pixels)."""
    cx, cy = box.center
    side = float(np.ceil(box.w * (abs(np.cos(np.radians(box.angle))) + abs(np.sin(np.radians(box.angle))))) + 2)
    return square_pixels(Box(cx - side / 2, cy - side / 2, side, side, box.score))


def crop_square(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The (size, size, 3) uint8 crop of ``image`` under the square ``box`` (rounded to whole pixels);
    the parts of the box outside the image are black. Shrinking averages pixels (no aliasing). A box
    with an ``angle`` is cut turned by it, so a tilted face comes out level."""
    if box.angle:
        return _turned_crop(image, box, size)
    box = square_pixels(box)
    height, width = image.shape[:2]
    x0, y0, side = int(box.x), int(box.y), int(box.w)
    check_pixels(side, side, f"the crop square {box.describe()}")  # padded beyond the image, it is allocated whole
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


def _turned_crop(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    # the upright square holding the turned one, resized first (averaging), then turned about its centre
    box = square_pixels(box)
    region = _turned_region(box)
    region_px = max(size, round(size * region.w / box.w))
    upright = crop_square(image, region, region_px)
    cv2 = _cv2()
    matrix = turn_matrix(box.angle, size, region_px)
    return cv2.warpAffine(upright, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def feather_mask(side: int, feather: float) -> np.ndarray:
    """(side, side) float32 weights: 1 inside, falling smoothly to 0 at the edges over ``feather`` of the
    side (0: a hard edge)."""
    width = feather * side
    t = np.arange(side, dtype=np.float32) + 0.5
    distance = np.minimum(t, side - t)  # to the nearest edge, in pixels
    ramp = np.ones(side, np.float32) if width <= 0 else np.clip(distance / width, 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible seam where the ramp starts
    return np.outer(ramp, ramp)


COLOR_MODES = ("field", "mean", "off")
FEATHER = 0.12  # of the crop's side, when no face box says how wide the margin around the face is


def face_feather(side: float, face: Box) -> float:
    """A feather that fades over the margin between the face and the crop's edge (the face itself, with
    a tenth of its size around it, stays the animation's), as a fraction of the crop's ``side``."""
    margin = (side - 1.2 * max(face.w, face.h)) / 2
    return float(np.clip(margin / side, 0.04, 0.3))


class PasteBack:
    """Blends animated crops back into the full-resolution ``photo`` at ``box`` (where they were cut).

    Each call takes one animated crop (S, S, 3) uint8 and returns a frame of the photo's size in which
    every pixel outside the box (for a turned box, outside the upright square that holds it) is the
    photo's own. Inside, the crop is resized (and turned back) to the box and blended with a feathered
    edge. ``feather``: the fraction of the side over which it fades (default: sized to ``face``, the
    face's box in the photo, so the fade lies in the margin around the face; else 0.12).

    ``color``: the animation's colours are matched to the photo across the seam, where both should
    agree: ``"field"`` (default) corrects by a smooth field, the per-channel difference measured in the
    feather band, spread inward by normalized convolution, so light that changes across the face
    (one cheek lit, one in shade) matches on every side; ``"mean"`` shifts by the band's mean
    difference and scales by its spread (per channel); ``"off"``. The correction is averaged over
    frames (``smoothing``) so it does not flicker. :meth:`seam_error` measures the result. Usable on
    any frame stream: ``map(PasteBack(photo, box), crops)``.
    """

    def __init__(self, photo: np.ndarray, box: Box, *, feather: float | None = None, color: bool | str = "field",
                 smoothing: float = 0.8, face: Box | None = None):
        if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise CropError(f"paste-back needs the photo as uint8 (H, W, 3), got {getattr(photo, 'shape', photo)}")
        color = {True: "field", False: "off"}.get(color, color) if isinstance(color, bool) else color
        if color not in COLOR_MODES:
            raise CropError(f"paste-back color must be one of {', '.join(COLOR_MODES)}, got {color!r}")
        self.photo = photo
        self.crop_box = square_pixels(box)
        self.side = int(self.crop_box.w)
        if feather is None:
            feather = FEATHER if face is None else face_feather(self.side, face)
        self.feather = feather
        mask = feather_mask(self.side, feather)
        self.turn = None
        if self.crop_box.angle:  # the turned square is pasted through the upright square holding it
            self.box = _turned_region(self.crop_box)
            self.turn = turn_matrix(self.crop_box.angle, self.side, self.box.w)
            mask = self._turned(mask)
        else:
            self.box = self.crop_box
        height, width = photo.shape[:2]
        x0, y0, side = int(self.box.x), int(self.box.y), int(self.box.w)
        ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
        if ix0 >= ix1 or iy0 >= iy1:
            raise CropError(f"paste-back box {self.box.describe()} is outside the {width}x{height} photo")
        self.region = (slice(iy0, iy1), slice(ix0, ix1))  # in the photo
        self.inner = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))  # in the (upright) box
        self.alpha = mask[self.inner][..., None]  # (h, w, 1)
        self.background = photo[self.region].astype(np.float32)
        band = self.alpha[..., 0] * (1 - self.alpha[..., 0])  # weights peak mid-way through the feather
        self.band = band / band.sum() if band.sum() > 0 else None
        self.color = color if self.band is not None else "off"
        self.smoothing = smoothing
        self.offset: np.ndarray | None = None  # the running colour correction: (3,) or a field (h, w, 3)

    def _turned(self, square: np.ndarray) -> np.ndarray:
        cv2 = _cv2()
        side = int(self.box.w)
        return cv2.warpAffine(square, self.turn, (side, side), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def _correction(self, animated: np.ndarray) -> np.ndarray:
        """This frame's colour correction (added to ``animated``), measured where the band has weight."""
        if self.color == "field":
            return _spread(np.subtract(self.background, animated), self.band)
        mean_bg = np.tensordot(self.band, self.background, axes=([0, 1], [0, 1]))  # "mean"
        mean_an = np.tensordot(self.band, animated, axes=([0, 1], [0, 1]))
        spread_bg = np.sqrt(np.tensordot(self.band, (self.background - mean_bg) ** 2, axes=([0, 1], [0, 1])))
        spread_an = np.sqrt(np.tensordot(self.band, (animated - mean_an) ** 2, axes=([0, 1], [0, 1])))
        gain = np.clip(spread_bg / np.maximum(spread_an, 1e-3), 0.8, 1.25)  # never amplify noise much
        return (animated - mean_an) * gain + mean_bg - animated

    def __call__(self, crop: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """The photo (or ``base``, a frame of its size, e.g. with other faces already pasted) with
        ``crop`` blended in at the box; ``base`` is not modified."""
        cv2 = _cv2()
        if crop.shape[:2] != (self.side, self.side):
            interpolation = cv2.INTER_CUBIC if self.side > crop.shape[0] else cv2.INTER_AREA
            crop = cv2.resize(np.ascontiguousarray(crop), (self.side, self.side), interpolation=interpolation)
        if self.turn is not None:
            crop = self._turned(np.ascontiguousarray(crop))
        # In place, on one float copy of the region: a 64 MP photo's region arrays are hundreds of MB each,
        # and each temporary would add one to the peak (the same arithmetic, in the same order).
        animated = crop[self.inner].astype(np.float32)
        if self.color != "off":
            offset = self._correction(animated)
            if self.offset is not None:  # smoothing * old + (1 - smoothing) * new
                offset *= 1 - self.smoothing
                self.offset *= self.smoothing
                offset += self.offset
            self.offset = offset
            animated += self.offset
        under = self.background if base is None else base[self.region].astype(np.float32)
        animated -= under  # blended = under + alpha * (animated - under)
        animated *= self.alpha
        animated += under
        animated += 0.5
        np.clip(animated, 0, 255, out=animated)
        out = (self.photo if base is None else base).copy()
        out[self.region] = animated  # truncated to uint8, as astype
        return out

    def seam_error(self, frame: np.ndarray) -> float:
        """How visible the seam is in a pasted ``frame`` (see :func:`seam_error`): 0 is none."""
        return seam_error(frame, self.photo, self.region, self.alpha[..., 0])

    def reset(self) -> None:
        """Forget the running colour correction (e.g. at a cut)."""
        self.offset = None


def _spread(difference: np.ndarray, band: np.ndarray) -> np.ndarray:
    """The per-channel ``difference`` measured under the ``band`` weights, spread into a smooth field over
    the whole region by normalized convolution (computed on a coarse grid: it is low-frequency).
    ``difference`` is overwritten (weighted in place, to spare a copy of the region)."""
    cv2 = _cv2()
    height, width = band.shape
    coarse = (max(4, round(width * 32 / max(height, width))), max(4, round(height * 32 / max(height, width))))
    weight = cv2.resize(band.astype(np.float32), coarse, interpolation=cv2.INTER_AREA)
    difference *= band[..., None]  # in place: the caller's own array
    values = cv2.resize(difference, coarse, interpolation=cv2.INTER_AREA)
    sigma = 0.25 * max(coarse)
    weight = cv2.GaussianBlur(weight, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    values = cv2.GaussianBlur(values, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    field = values / np.maximum(weight, 1e-12)[..., None]
    return cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)


def seam_error(frame: np.ndarray, photo: np.ndarray, region: tuple[slice, slice], alpha: np.ndarray) -> float:
    """The gradient energy that a paste adds along its seam, over the photo's own there: the mean squared
    gradient of ``frame - photo`` in the seam band divided by that of ``photo``. 0: no trace of the
    seam; a colour step at the edge adds its height squared over the width it fades over. ``alpha``:
    the blend weights of ``region``; the band is where they are strictly between 0 and 1 and the line
    where they cross 1/2 (a hard edge's), grown by one pixel either side."""
    from scipy.ndimage import binary_dilation, binary_erosion

    height, width = photo.shape[:2]
    rows, cols = region
    y0, y1 = max(rows.start - 2, 0), min(rows.stop + 2, height)
    x0, x1 = max(cols.start - 2, 0), min(cols.stop + 2, width)
    weights = np.zeros((height, width), np.float32)
    weights[region] = alpha
    weights = weights[y0:y1, x0:x1]
    inside = weights > 0.5
    band = binary_dilation((inside ^ binary_erosion(inside)) | ((weights > 0.01) & (weights < 0.99)))

    def energy(gray: np.ndarray) -> float:
        gy, gx = np.gradient(gray)
        return float(np.mean((gx * gx + gy * gy)[band]))

    gray_photo = photo[y0:y1, x0:x1].astype(np.float32).mean(axis=2)
    gray_frame = frame[y0:y1, x0:x1].astype(np.float32).mean(axis=2)
    return energy(gray_frame - gray_photo) / max(energy(gray_photo), 1e-6)


def paste_back(crops, photo: np.ndarray, box: Box, **options):
    """Each animated crop of the stream ``crops`` pasted into ``photo`` at ``box`` (see :class:`PasteBack`)."""
    paste = PasteBack(photo, box, **options)
    for crop in crops:
        yield paste(crop)
