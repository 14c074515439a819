"""Per-frame metrics on known inputs."""

from __future__ import annotations

import math

import pytest
import torch

from fomm.evaluation import metrics


def test_known_values():
    real = torch.zeros(2, 3, 16, 16)
    pred = torch.full((2, 3, 16, 16), 0.1)
    pred[1] = 0.0
    torch.testing.assert_close(metrics.l1(pred, real), torch.tensor([0.1, 0.0]))
    torch.testing.assert_close(metrics.mse(pred, real), torch.tensor([0.01, 0.0]))
    psnr = metrics.psnr(pred, real)
    assert psnr[0].item() == pytest.approx(20.0, abs=1e-4) and math.isinf(psnr[1].item())
    assert metrics.psnr_from_mse(0.01) == pytest.approx(20.0) and math.isinf(metrics.psnr_from_mse(0.0))
    noise = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    ssim = metrics.ssim(noise, noise)
    assert ssim.tolist() == pytest.approx([1.0, 1.0])
    assert metrics.ssim(noise, 1 - noise).max() < 0.5
    with pytest.raises(ValueError, match="one shape"):
        metrics.l1(pred, real[:1])
