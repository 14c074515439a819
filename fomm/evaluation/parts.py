"""Part metrics on synthetic videos (:mod:`fomm.data.synthetic`): each part of a figure found by its
color in any frame, real or generated, and the paper's AKD / MKR (Sec. 4.1, which uses a pretrained
keypoint detector) measured on those positions, without any learned model.

Coordinates are in pixels, (x, y) = (column, row), with pixel centres at integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..data.synthetic import Tracks, part_shades

# A pixel is a part's when it is this close (RGB distance) to the part's color segment; the palette
# (fomm.data.synthetic.PALETTE) keeps parts >= 80 apart and >= 75 from the background.
COLOR_TOLERANCE = 40.0


@dataclass(frozen=True)
class PartPositionError:
    """AKD / MKR of the paper (Sec. 4.1), on color-measured part positions instead of detected keypoints."""

    akd: float  # mean distance (pixels) over (frame, part) found in both; nan when there is none
    mkr: float  # share of (frame, part) found in the reference but missed in the generated frames
    num_matched: int  # (frame, part) pairs found in both
    num_reference: int  # (frame, part) pairs found (visible) in the reference
    # The same per part (in the order of the part colors): distances summed over its matched frames,
    # and its matched / missed / reference frame counts. The limbs' errors hide behind the torso's in
    # the means, so these tell which parts the model fails to move.
    part_distance_sum: tuple[float, ...] = ()
    part_matched: tuple[int, ...] = ()
    part_missed: tuple[int, ...] = ()
    part_reference: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, float]:
        return {"akd": self.akd, "mkr": self.mkr}



def _as_uint8_frames(frames: np.ndarray, what: str) -> np.ndarray:
    """(N, H, W, 3) uint8 from uint8 or float-in-[0, 1] frames, (H, W, 3) taken as one frame."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{what} must be (N, H, W, 3) or (H, W, 3) RGB, got shape {frames.shape}")
    if frames.dtype == np.uint8:
        return frames
    if np.issubdtype(frames.dtype, np.floating):
        return np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"{what} must be uint8 in [0, 255] or float in [0, 1], got {frames.dtype}")


def part_masks(frame: np.ndarray, part_colors: np.ndarray, *, tolerance: float = COLOR_TOLERANCE) -> np.ndarray:
    """Which pixels of one frame (H, W, 3) belong to each part, by color: (P, H, W) bool.

    A pixel belongs to part k when its RGB distance to the segment between the part's color and its
    texture shade (which also covers blends of the two) is at most `tolerance`.
    """
    image = _as_uint8_frames(frame, "frame")
    if image.shape[0] != 1:
        raise ValueError(f"part_masks takes one frame, got {image.shape[0]}")
    image = image[0]
    colors = np.asarray(part_colors)
    if colors.ndim != 2 or colors.shape[1] != 3:
        raise ValueError(f"part_colors must be (P, 3), got shape {colors.shape}")
    pixels = image.reshape(-1, 1, 3).astype(np.float32)  # (HW, 1, 3)
    lo = part_shades(colors).astype(np.float32)[None]  # (1, P, 3)
    span = colors.astype(np.float32)[None] - lo
    along = np.clip(((pixels - lo) * span).sum(-1) / (span * span).sum(-1), 0.0, 1.0)  # (HW, P)
    distance = np.linalg.norm(pixels - lo - along[..., None] * span, axis=-1)  # (HW, P)
    return (distance <= tolerance).T.reshape(len(colors), *image.shape[:2])


def measure_part_positions(
    frame: np.ndarray,
    part_colors: np.ndarray,
    *,
    tolerance: float = COLOR_TOLERANCE,
    min_pixels: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Find each part by its color: (positions (P, 2) float (x, y), found (P,) bool).

    The part's pixels are its `part_masks`; pixels on anti-aliased borders with the background or
    another part fall out on both sides alike, so the centroid of the matching pixels stays on the
    part's centroid. A part with fewer than `min_pixels` matches is not found (its position is nan).
    """
    match = part_masks(frame, part_colors, tolerance=tolerance)  # (P, H, W)
    num_parts, height, width = match.shape
    match = match.reshape(num_parts, -1).T  # (HW, P)
    counts = match.sum(axis=0)
    ys, xs = np.divmod(np.arange(height * width, dtype=np.float64), width)
    with np.errstate(invalid="ignore", divide="ignore"):
        positions = np.stack([xs @ match, ys @ match], axis=-1) / counts[:, None]
    found = counts >= min_pixels
    positions[~found] = np.nan
    return positions, found


@dataclass(frozen=True)
class MeasuredParts:
    """Part positions measured by color in N frames (see `measure_parts`), to score several generated
    videos against the same real frames without measuring those again."""

    positions: np.ndarray  # (N, P, 2) float (x, y); nan where the part was not found
    found: np.ndarray  # (N, P) bool


def measure_parts(frames: np.ndarray, part_colors: np.ndarray) -> MeasuredParts:
    """`measure_part_positions` on each of the frames (N, H, W, 3), uint8 or float in [0, 1]."""
    measured = [measure_part_positions(f, part_colors) for f in _as_uint8_frames(frames, "frames")]
    return MeasuredParts(np.stack([p for p, _ in measured]), np.stack([f for _, f in measured]))


def part_position_error(
    generated_frames: np.ndarray,
    reference: np.ndarray | Tracks | MeasuredParts,
    part_colors: np.ndarray | None = None,
) -> PartPositionError:
    """AKD / MKR between generated frames and the reference, parts located by color in both.

    `reference` is best the ground-truth frames (N, H, W, 3), or their `measure_parts`: measured the
    same way as the generated ones, rendering differences cancel. With `Tracks` instead, its positions
    and visibility are used and `part_colors` defaults to its colors. Frames are uint8, or float in [0, 1].
    """
    generated = _as_uint8_frames(generated_frames, "generated_frames")
    if isinstance(reference, Tracks):
        colors = reference.part_colors if part_colors is None else np.asarray(part_colors)
        ref_positions, ref_found = reference.positions.astype(np.float64), reference.visible
    else:
        if part_colors is None:
            raise ValueError("part_colors is required when the reference is frames")
        colors = np.asarray(part_colors)
        if not isinstance(reference, MeasuredParts):
            reference = measure_parts(reference, colors)
        ref_positions, ref_found = reference.positions, reference.found
    if len(ref_positions) != len(generated):
        raise ValueError(f"{len(generated)} generated frames but {len(ref_positions)} reference frames")
    if ref_positions.shape[1] != len(colors):
        raise ValueError(f"reference has {ref_positions.shape[1]} parts but {len(colors)} part colors were given")

    measured = measure_parts(generated, colors)
    gen_positions, gen_found = measured.positions, measured.found  # (N, P, 2), (N, P)
    both = ref_found & gen_found
    missed = ref_found & ~gen_found
    num_matched, num_reference = int(both.sum()), int(ref_found.sum())
    distances = np.where(both, np.linalg.norm(gen_positions - ref_positions, axis=-1), 0.0)  # (N, P)
    return PartPositionError(
        akd=float(distances.sum() / num_matched) if num_matched else math.nan,
        mkr=float(missed.sum() / num_reference) if num_reference else math.nan,
        num_matched=num_matched,
        num_reference=num_reference,
        part_distance_sum=tuple(float(d) for d in distances.sum(axis=0)),
        part_matched=tuple(int(n) for n in both.sum(axis=0)),
        part_missed=tuple(int(n) for n in missed.sum(axis=0)),
        part_reference=tuple(int(n) for n in ref_found.sum(axis=0)),
    )
