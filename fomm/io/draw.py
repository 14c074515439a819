"""Keypoint overlays, colored like the original visualizer (matplotlib's gist_rainbow), without matplotlib."""

from __future__ import annotations

import numpy as np

from .frames import check_frame

# matplotlib's ``_gist_rainbow_data`` (matplotlib/_cm.py): (position, (r, g, b)) control points.
_GIST_RAINBOW = (
    (0.000, (1.00, 0.00, 0.16)),
    (0.030, (1.00, 0.00, 0.00)),
    (0.215, (1.00, 1.00, 0.00)),
    (0.400, (0.00, 1.00, 0.00)),
    (0.586, (0.00, 1.00, 1.00)),
    (0.770, (0.00, 0.00, 1.00)),
    (0.954, (1.00, 0.00, 1.00)),
    (1.000, (1.00, 0.00, 0.75)),
)
_LUT_SIZE = 256  # matplotlib samples a colormap into a 256-entry table


def _gist_rainbow_lut() -> np.ndarray:
    positions = np.array([p for p, _ in _GIST_RAINBOW])
    colors = np.array([c for _, c in _GIST_RAINBOW])
    x = np.linspace(0.0, 1.0, _LUT_SIZE)
    return np.stack([np.interp(x, positions, colors[:, c]) for c in range(3)], axis=1)  # (256, 3)


_LUT = _gist_rainbow_lut()


def keypoint_colors(num_kp: int) -> np.ndarray:
    """(K, 3) uint8 colors: keypoint k gets gist_rainbow(k / K), as the original visualizer."""
    index = np.minimum((np.arange(num_kp) / max(num_kp, 1) * _LUT_SIZE).astype(int), _LUT_SIZE - 1)
    return np.round(_LUT[index] * 255).astype(np.uint8)


def draw_keypoints(frame: np.ndarray, kp_pixels: np.ndarray, radius: int | None = None) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3) uint8 with a filled dot per keypoint.

    ``kp_pixels`` is (K, 2) in pixel coordinates (x, y); dots partly outside the frame are clipped.
    ``radius`` defaults to 5 px at 256 px (the original ``kp_size``), scaled with the frame size.
    """
    check_frame(frame)
    kp = np.asarray(kp_pixels, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 2:
        raise ValueError(f"kp_pixels must be (K, 2) pixel coordinates (x, y), got shape {kp.shape}")
    height, width = frame.shape[:2]
    if radius is None:
        radius = max(1, round(5 * min(height, width) / 256))
    out = frame.copy()
    rows, cols = np.ogrid[:height, :width]
    for (x, y), color in zip(kp, keypoint_colors(len(kp)), strict=True):
        if not np.isfinite(x) or not np.isfinite(y):
            continue
        top, bottom = max(int(np.floor(y - radius)), 0), min(int(np.ceil(y + radius)) + 1, height)
        left, right = max(int(np.floor(x - radius)), 0), min(int(np.ceil(x + radius)) + 1, width)
        if top >= bottom or left >= right:
            continue
        disk = (rows[top:bottom] - y) ** 2 + (cols[:, left:right] - x) ** 2 <= radius**2
        out[top:bottom, left:right][disk] = color
    return out
