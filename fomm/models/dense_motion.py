"""Dense motion network: from sparse keypoint motions to a dense backward flow and an occlusion map
(paper Sec. 3.3, Eq. 4-6)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    float32_math,
    full_precision,
    inverse_2x2,
    kp2gaussian,
    make_coordinate_grid,
    warp,
)
from .keypoint_detector import Keypoints


@dataclass
class DenseMotion:
    sparse_deformed: torch.Tensor  # (B, K+1, C, h, w)
    mask: torch.Tensor  # (B, K+1, h, w)
    deformation: torch.Tensor  # (B, h, w, 2)
    occlusion_map: torch.Tensor | None  # (B, 1, h, w)


class MotionCombiner(nn.Module):
    """What FOMM's dense motion network and MRAA's pixelwise flow predictor share (paper Eq. 5-6 and
    MRAA's Sec. 3.2): at ``scale_factor`` of the source, an hourglass over the motions' heatmaps (and
    the source deformed by each) predicts each motion's contribution (a softmax mask over the K
    motions plus the background's) and an occlusion map; the flow is the motions weighed by the mask.
    Built by :meth:`add_head` (the published key order: hourglass, mask, occlusion, down)."""

    def add_head(self, block_expansion: int, num_blocks: int, max_features: int, in_features: int,
                 num_motions: int, num_channels: int, estimate_occlusion_map: bool, scale_factor: float) -> None:
        self.hourglass = Hourglass(block_expansion, in_features=in_features, max_features=max_features,
                                   num_blocks=num_blocks)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_motions, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
                          if estimate_occlusion_map else None)
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    @staticmethod
    def deform_each(source: torch.Tensor, sparse_motions: torch.Tensor, align_corners: bool) -> torch.Tensor:
        """The source (B, C, h, w) warped by each of the n sparse motions (B, n, h, w, 2): (B, n, C, h, w)."""
        bs, c, h, w = source.shape
        n = sparse_motions.shape[1]
        repeated = source.unsqueeze(1).expand(bs, n, c, h, w).reshape(bs * n, c, h, w)
        return warp(repeated, sparse_motions.reshape(bs * n, h, w, 2), align_corners).view(bs, n, c, h, w)

    def combine(self, features: torch.Tensor, sparse_motions: torch.Tensor):
        """The hourglass on ``features`` (B, F, h, w): the mask (B, n, h, w), the dense flow (B, h, w, 2)
        and the occlusion map (B, 1, h, w) or None."""
        prediction = self.hourglass(features)
        # float32: the mask weighs the sparse motions into grid_sample coordinates.
        mask = F.softmax(full_precision(self.mask(prediction)), dim=1)
        flow = (sparse_motions * mask.unsqueeze(-1)).sum(dim=1)
        occlusion_map = torch.sigmoid(self.occlusion(prediction)) if self.occlusion is not None else None
        return mask, flow, occlusion_map


class DenseMotionNetwork(MotionCombiner):
    """Predicts, at ``scale_factor`` of the source resolution, how to combine the K first-order
    motions (plus the identity for the background) into one dense deformation."""

    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_kp: int,
                 num_channels: int, estimate_occlusion_map: bool = False, scale_factor: float = 1,
                 kp_variance: float = 0.01, align_corners: bool = True):
        super().__init__()
        self.add_head(block_expansion, num_blocks, max_features, (num_kp + 1) * (num_channels + 1), num_kp + 1,
                      num_channels, estimate_occlusion_map, scale_factor)
        self.num_kp = num_kp
        self.kp_variance = kp_variance
        self.align_corners = align_corners

    def heatmap_representation(self, spatial_size, kp_driving: Keypoints, kp_source: Keypoints):
        """Eq. 6: gaussian(driving) - gaussian(source), with a zero map for the background first."""
        heatmap = (kp2gaussian(kp_driving.value, spatial_size, self.kp_variance)
                   - kp2gaussian(kp_source.value, spatial_size, self.kp_variance))
        zeros = heatmap.new_zeros(heatmap.shape[0], 1, *spatial_size)
        return torch.cat([zeros, heatmap], dim=1).unsqueeze(2)  # (B, K+1, 1, h, w)

    def sparse_motions(self, spatial_size, kp_driving: Keypoints, kp_source: Keypoints):
        """Eq. 4: z -> J_k (z - p_k^D) + p_k^S per keypoint, identity grid first for the background."""
        h, w = spatial_size
        bs = kp_source.value.shape[0]
        with float32_math(kp_source.value):  # these are the sampling coordinates
            identity = make_coordinate_grid((h, w), kp_source.value.dtype, kp_source.value.device).view(1, 1, h, w, 2)
            coordinate_grid = identity - kp_driving.value.view(bs, self.num_kp, 1, 1, 2)
            if kp_driving.jacobian is not None:
                jacobian = torch.matmul(kp_source.jacobian, inverse_2x2(kp_driving.jacobian))  # (B, K, 2, 2)
                coordinate_grid = torch.einsum("bkij,bkhwj->bkhwi", jacobian, coordinate_grid)
            driving_to_source = coordinate_grid + kp_source.value.view(bs, self.num_kp, 1, 1, 2)
            return torch.cat([identity.expand(bs, 1, h, w, 2), driving_to_source], dim=1)  # (B, K+1, h, w, 2)

    def deformed_sources(self, source: torch.Tensor, sparse_motions: torch.Tensor) -> torch.Tensor:
        return self.deform_each(source, sparse_motions, self.align_corners)

    def forward(self, source_image: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> DenseMotion:
        if self.scale_factor != 1:
            source_image = self.down(source_image)
        bs, _, h, w = source_image.shape
        heatmap = self.heatmap_representation((h, w), kp_driving, kp_source)
        sparse_motion = self.sparse_motions((h, w), kp_driving, kp_source)
        sparse_deformed = self.deformed_sources(source_image, sparse_motion)
        features = torch.cat([heatmap, sparse_deformed], dim=2).view(bs, -1, h, w)
        return DenseMotion(sparse_deformed, *self.combine(features, sparse_motion))
