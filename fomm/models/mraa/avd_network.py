"""Animation via disentanglement (paper Sec. 3.4): an identity encoder reads the source's regions,
a pose encoder the driving frame's, and a decoder produces regions with the source's shape in the
driving pose, so that the driver's body shape does not leak into the animation."""

from __future__ import annotations

import torch

from ..avd import AVDEncoderDecoder
from .regions import Regions, affine_covariance


class AVDNetwork(AVDEncoderDecoder):
    """Maps (identity regions, pose regions) to new regions; each region enters as its shift and
    affine, 6 numbers (the layers: :class:`fomm.models.avd.AVDEncoderDecoder`)."""

    def __init__(self, num_regions: int, id_bottle_size: int = 64, pose_bottle_size: int = 64):
        super().__init__(num_regions * 6, id_bottle_size, pose_bottle_size)
        self.num_regions = num_regions

    @staticmethod
    def _flatten(regions: Regions) -> torch.Tensor:
        b, k = regions.shift.shape[:2]
        return torch.cat([regions.shift, regions.affine.reshape(b, k, 4)], dim=2).reshape(b, -1)

    def forward(self, regions_id: Regions, regions_pose: Regions) -> Regions:
        """``regions_id`` (the source, batch 1 or B) and ``regions_pose`` (the driving frames, B).
        The covariance of the result is A A^T of its affine."""
        bs = regions_pose.shift.shape[0]
        out = self.disentangle(self._flatten(regions_id.expand(bs)), self._flatten(regions_pose))
        out = out.float().view(bs, self.num_regions, 6)
        shift, affine = out[..., :2], out[..., 2:].reshape(bs, self.num_regions, 2, 2)
        return Regions(shift, affine, affine_covariance(affine))
