"""Frames between media and the networks: square resizing, and uint8 (H, W, 3) <-> float (N, 3, H, W)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

FITS = ("crop", "pad")


def prepare_frame(frame: np.ndarray, size: int, fit: str = "crop") -> np.ndarray:
    """Make a (size, size, 3) uint8 frame without distorting it.

    ``fit="crop"`` keeps the centered square of side min(H, W); ``fit="pad"`` centers the frame on a
    black square of side max(H, W). The square is then resized with Lanczos (antialiased when shrinking).
    """
    check_frame(frame)
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    height, width = frame.shape[:2]
    if fit == "crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = frame[top : top + side, left : left + side]
    else:
        side = max(height, width)
        top, left = (side - height) // 2, (side - width) // 2
        square = np.zeros((side, side, 3), np.uint8)
        square[top : top + height, left : left + width] = frame
    if side == size:
        return square.copy()  # a fresh array, as from the resize branch
    resized = Image.fromarray(np.ascontiguousarray(square)).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8).copy()


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) or (H, W, 3) -> float32 (N, 3, H, W) in [0, 1] (a single frame gets N = 1)."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        kind = frames.dtype if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"to_tensor expects a uint8 numpy array of RGB frames, got {kind}")
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"to_tensor expects (N, H, W, 3) or (H, W, 3) frames, got shape {frames.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(frames))  # (N, H, W, 3)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0).contiguous()  # (N, 3, H, W)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [0, 1] -> uint8 (N, H, W, 3), rounded and clamped; (3, H, W) -> (H, W, 3)."""
    if tensor.ndim not in (3, 4) or tensor.shape[-3] != 3:
        raise ValueError(f"to_uint8 expects (N, 3, H, W) or (3, H, W), got shape {tuple(tensor.shape)}")
    scaled = tensor.detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return scaled.movedim(-3, -1).cpu().numpy()  # (..., H, W, 3)


def check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        described = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame)
        raise ValueError(f"expected a uint8 (H, W, 3) RGB frame, got {described}")
