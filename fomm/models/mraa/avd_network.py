"""Animation via disentanglement (paper Sec. 3.4): an identity encoder reads the source's regions,
a pose encoder the driving frame's, and a decoder produces regions with the source's shape in the
driving pose, so that the driver's body shape does not leak into the animation."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from .regions import Regions, affine_covariance


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU between consecutive widths, a bare Linear last (the published
    layer indices 0, 1, 3, 4, ... follow from this order)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class AVDNetwork(nn.Module):
    """Maps (identity regions, pose regions) to new regions; each region enters as its shift and
    affine, 6 numbers."""

    def __init__(self, num_regions: int, id_bottle_size: int = 64, pose_bottle_size: int = 64):
        super().__init__()
        size = num_regions * 6
        self.id_encoder = _mlp([size, 256, 512, 1024, id_bottle_size])
        self.pose_encoder = _mlp([size, 256, 512, 1024, pose_bottle_size])
        self.decoder = _mlp([pose_bottle_size + id_bottle_size, 1024, 512, 256, size])
        self.num_regions = num_regions

    @staticmethod
    def _flatten(regions: Regions) -> torch.Tensor:
        b, k = regions.shift.shape[:2]
        return torch.cat([regions.shift, regions.affine.reshape(b, k, 4)], dim=2).reshape(b, -1)

    def forward(self, regions_id: Regions, regions_pose: Regions) -> Regions:
        """``regions_id`` (the source, batch 1 or B) and ``regions_pose`` (the driving frames, B).
        The covariance of the result is A A^T of its affine."""
        bs = regions_pose.shift.shape[0]
        identity = self.id_encoder(self._flatten(regions_id.expand(bs)))
        pose = self.pose_encoder(self._flatten(regions_pose))
        out = self.decoder(torch.cat([pose, identity], dim=1)).float().view(bs, self.num_regions, 6)
        shift, affine = out[..., :2], out[..., 2:].reshape(bs, self.num_regions, 2, 2)
        return Regions(shift, affine, affine_covariance(affine))
