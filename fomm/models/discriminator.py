"""Multi-scale patch discriminator used by the adversarial variants of training (LSGAN)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import kp2gaussian


class DiscriminatorBlock(nn.Module):
    """Conv k4 (no padding, optional spectral norm) -> instance norm -> LeakyReLU 0.2 -> avg pool."""

    def __init__(self, in_features: int, out_features: int, norm: bool = False, kernel_size: int = 4,
                 pool: bool = False, sn: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size)
        if sn:
            # The legacy hook keeps the published keys weight_orig / weight_u / weight_v.
            self.conv = nn.utils.spectral_norm(self.conv)
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        if self.pool:
            out = F.avg_pool2d(out, (2, 2))
        return out


@dataclass
class DiscriminatorOutput:
    feature_maps: list[torch.Tensor]
    prediction_map: torch.Tensor


class Discriminator(nn.Module):
    def __init__(self, num_channels: int = 3, block_expansion: int = 64, num_blocks: int = 4,
                 max_features: int = 512, sn: bool = False, use_kp: bool = False, num_kp: int = 10,
                 kp_variance: float = 0.01, **_ignored):
        super().__init__()
        blocks = []
        for i in range(num_blocks):
            in_features = num_channels + num_kp * use_kp if i == 0 else min(max_features, block_expansion * 2**i)
            blocks.append(DiscriminatorBlock(in_features, min(max_features, block_expansion * 2 ** (i + 1)),
                                             norm=i != 0, pool=i != num_blocks - 1, sn=sn))
        self.down_blocks = nn.ModuleList(blocks)
        self.conv = nn.Conv2d(self.down_blocks[-1].conv.out_channels, 1, kernel_size=1)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(self, x: torch.Tensor, kp_value: torch.Tensor | None = None) -> DiscriminatorOutput:
        out = x
        if self.use_kp:
            out = torch.cat([out, kp2gaussian(kp_value, x.shape[2:], self.kp_variance)], dim=1)
        feature_maps = []
        for block in self.down_blocks:
            out = block(out)
            feature_maps.append(out)
        return DiscriminatorOutput(feature_maps, self.conv(out))


def scale_key(scale: float) -> str:
    """Module key of a pyramid scale, as published: ``1`` -> ``'1'``, ``0.5`` -> ``'0-5'``."""
    return str(scale).replace(".", "-")


class MultiScaleDiscriminator(nn.Module):
    """One discriminator per pyramid scale, under ``discs.<scale>``."""

    def __init__(self, scales=(), **kwargs):
        super().__init__()
        self.scales = list(scales)
        self.discs = nn.ModuleDict({scale_key(s): Discriminator(**kwargs) for s in scales})

    def forward(self, pyramid: dict[float, torch.Tensor], kp_value: torch.Tensor | None = None
                ) -> dict[float, DiscriminatorOutput]:
        """``pyramid`` maps each scale to the image at that scale."""
        return {s: self.discs[scale_key(s)](pyramid[s], kp_value) for s in self.scales}
