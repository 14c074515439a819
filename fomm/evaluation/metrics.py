"""Per-frame image metrics on float frames (B, 3, H, W) in [0, 1]: L1, MSE, PSNR, SSIM."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import structural_similarity

__all__ = ["l1", "mse", "psnr", "psnr_from_mse", "ssim"]


def _check(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(f"expected two (B, C, H, W) batches of one shape, got {tuple(prediction.shape)} "
                         f"and {tuple(target.shape)}")


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per frame: (B,). The paper's reconstruction L1 is its mean over all
    frames of the test videos."""
    _check(prediction, target)
    return (prediction.float() - target.float()).abs().flatten(1).mean(1)


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference per frame: (B,)."""
    _check(prediction, target)
    return (prediction.float() - target.float()).square().flatten(1).mean(1)


def psnr_from_mse(value: float, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error; inf for a perfect match."""
    return math.inf if value <= 0 else 10.0 * math.log10(data_range**2 / value)


def psnr(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR per frame in dB: (B,); inf where a frame matches exactly."""
    return 10.0 * torch.log10(data_range**2 / mse(prediction, target))


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> np.ndarray:
    """Structural similarity per frame (scikit-image, 7x7 uniform window, channels averaged): (B,)."""
    _check(prediction, target)
    pred = prediction.detach().float().permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, C)
    real = target.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    return np.array([structural_similarity(r, p, channel_axis=-1, data_range=data_range)
                     for p, r in zip(pred, real, strict=True)], dtype=np.float64)
