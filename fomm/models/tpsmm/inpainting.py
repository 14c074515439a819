"""TPSMM's inpainting network (paper Sec. 3.4): the source's encoder features at every scale are
warped by the optical flow and masked by the occlusion mask of their resolution; the decoder fuses
them and inpaints what the source does not show. Everything but the source's encoding depends on
the driving frame, so animation encodes the source once (:meth:`encode_source`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, instance_norm, warp
from .dense_motion import TPSDenseMotion


@dataclass
class InpaintingOutput:
    prediction: torch.Tensor  # (B, C, H, W) in [0, 1]
    deformed: torch.Tensor  # (B, C, H, W): the source warped by the optical flow


def _resize_like(maps: torch.Tensor, size) -> torch.Tensor:
    if tuple(maps.shape[2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=True)


def deform(features: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Warp (B, C, h, w) by a (B, h', w', 2) flow, resized (bilinear, align_corners=True) to (h, w)."""
    flow = _resize_like(deformation.permute(0, 3, 1, 2), features.shape[2:]).permute(0, 2, 3, 1)
    return warp(features, flow, align_corners=True)


class InpaintingNetwork(nn.Module):
    def __init__(self, num_channels: int, block_expansion: int, max_features: int, num_down_blocks: int,
                 multi_mask: bool = True):
        super().__init__()

        def width(level: int) -> int:
            return min(max_features, block_expansion * 2**level)

        def decoder_width(level: int) -> int:  # the deepest level has no skip concatenated
            return width(level + 1) * (1 if level == num_down_blocks - 1 else 2)

        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3, norm=instance_norm)
        self.down_blocks = nn.ModuleList(DownBlock2d(width(i), width(i + 1), norm=instance_norm)
                                         for i in range(num_down_blocks))
        deepest_first = list(reversed(range(num_down_blocks)))
        self.up_blocks = nn.ModuleList(UpBlock2d(decoder_width(i), width(i), norm=instance_norm)
                                       for i in deepest_first)
        self.resblock = nn.ModuleList(ResBlock2d(decoder_width(i), norm=instance_norm)
                                      for i in deepest_first for _ in range(2))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.num_down_blocks = num_down_blocks
        self.multi_mask = multi_mask

    def encode_source(self, source_image: torch.Tensor) -> list[torch.Tensor]:
        """The source's feature maps, finest first: [first, down_0, ..., down_{n-1}]."""
        maps = [self.first(source_image)]
        for block in self.down_blocks:
            maps.append(block(maps[-1]))
        return maps

    def _mask(self, features: torch.Tensor, motion: TPSDenseMotion, index: int) -> torch.Tensor:
        """Features times the occlusion mask ``index`` (with a single mask: it, resized)."""
        if self.multi_mask:
            return features * motion.occlusion_map[index].to(features.dtype)
        return features * _resize_like(motion.occlusion_map[0], features.shape[2:]).to(features.dtype)

    def decode(self, source_features: list[torch.Tensor], source_image: torch.Tensor,
               motion: TPSDenseMotion) -> InpaintingOutput:
        """The driving frame from :meth:`encode_source`'s maps; maps and image of batch 1 are broadcast
        over the motion's batch."""
        bs = motion.deformation.shape[0]
        if source_image.shape[0] != bs:
            source_features = [f.expand(bs, *f.shape[1:]) for f in source_features]
            source_image = source_image.expand(bs, *source_image.shape[1:])
        out = self._mask(deform(source_features[-1], motion.deformation), motion, 0)
        for i in range(self.num_down_blocks):
            out = self.up_blocks[i](self.resblock[2 * i + 1](self.resblock[2 * i](out)))
            skip = self._mask(deform(source_features[-(i + 2)], motion.deformation), motion,
                              i + 1 if self.multi_mask else 0)
            if i < self.num_down_blocks - 1:
                out = torch.cat([out, skip], dim=1)
        deformed = deform(source_image, motion.deformation)
        occlusion = _resize_like(motion.occlusion_map[-1], out.shape[2:]).to(out.dtype)
        out = torch.sigmoid(self.final(out * (1 - occlusion) + skip))
        # Where the source is visible, the warped source itself (Eq. 10 of the paper).
        prediction = out * (1 - occlusion) + deformed.to(out.dtype) * occlusion
        return InpaintingOutput(prediction, deformed)

    def forward(self, source_image: torch.Tensor, motion: TPSDenseMotion) -> InpaintingOutput:
        return self.decode(self.encode_source(source_image), source_image, motion)
