"""Pixel-wise flow predictor (paper Sec. 3.2): from the region motions (and the background's) to a
dense backward optical flow and an occlusion map, at ``scale_factor`` of the source resolution."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..blocks import (
    float32_math,
    inverse_2x2,
    kp2gaussian,
    make_coordinate_grid,
)
from ..dense_motion import MotionCombiner
from .regions import Regions


@dataclass
class FlowOutput:
    sparse_deformed: torch.Tensor | None  # (B, K+1, C, h, w): the source warped by each motion
    mask: torch.Tensor  # (B, K+1, h, w): each motion's contribution (softmax)
    optical_flow: torch.Tensor  # (B, h, w, 2): driving -> source sampling coordinates
    occlusion_map: torch.Tensor | None  # (B, 1, h, w)


def covariance_heatmap(regions: Regions, spatial_size: tuple[int, int]) -> torch.Tensor:
    """exp(-1/2 (z - mu)^T Sigma^-1 (z - mu)) per region: (B, K, h, w)."""
    grid = make_coordinate_grid(spatial_size, regions.shift.dtype, regions.shift.device)
    centred = grid - regions.shift[:, :, None, None, :]  # (B, K, h, w, 2)
    precision = inverse_2x2(regions.covar)[:, :, None, None]  # (B, K, 1, 1, 2, 2)
    mahalanobis = (centred.unsqueeze(-2) @ precision @ centred.unsqueeze(-1))[..., 0, 0]
    return torch.exp(-0.5 * mahalanobis)


def apply_homography(matrix: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) acting on (h, w, 2) coordinates -> (B, h, w, 2), divided by the third component."""
    homogeneous = torch.cat([grid, torch.ones_like(grid[..., :1])], dim=-1)
    out = torch.einsum("bij,hwj->bhwi", matrix, homogeneous)
    return out[..., :2] / out[..., 2:]


class PixelwiseFlowPredictor(MotionCombiner):
    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_regions: int,
                 num_channels: int, estimate_occlusion_map: bool = False, scale_factor: float = 1,
                 region_var: float = 0.01, use_covar_heatmap: bool = False, use_deformed_source: bool = True,
                 revert_axis_swap: bool = False):
        super().__init__()
        self.add_head(block_expansion, num_blocks, max_features,
                      (num_regions + 1) * (num_channels * use_deformed_source + 1), num_regions + 1, num_channels,
                      estimate_occlusion_map, scale_factor)
        self.num_regions = num_regions
        self.region_var = region_var
        self.use_covar_heatmap = use_covar_heatmap
        self.use_deformed_source = use_deformed_source
        self.revert_axis_swap = revert_axis_swap

    def heatmap_representation(self, spatial_size, driving: Regions, source: Regions) -> torch.Tensor:
        """Driving minus source region heatmaps, a zero map for the background first: (B, K+1, 1, h, w)."""
        if self.use_covar_heatmap:
            heatmap = covariance_heatmap(driving, spatial_size) - covariance_heatmap(source, spatial_size)
        else:
            heatmap = (kp2gaussian(driving.shift, spatial_size, self.region_var)
                       - kp2gaussian(source.shift, spatial_size, self.region_var))
        zeros = heatmap.new_zeros(heatmap.shape[0], 1, *spatial_size)
        return torch.cat([zeros, heatmap], dim=1).unsqueeze(2)

    def sparse_motions(self, spatial_size, driving: Regions, source: Regions,
                       bg_params: torch.Tensor | None) -> torch.Tensor:
        """The background transform of the identity grid, then z -> mu_S + A_S A_D^-1 (z - mu_D) per
        region (paper Eq. 2): (B, K+1, h, w, 2).

        With ``revert_axis_swap`` a region's A_S A_D^-1 is negated when its top-left entry is
        negative: an SVD's singular vectors are defined up to sign, so two regions' affines may
        differ by a half turn that is no motion at all. The authors' numbers (golden fixtures) need
        this in the demo's relative and AVD modes; a rule on the trace instead would fit them as well.
        """
        h, w = spatial_size
        bs = driving.shift.shape[0]
        grid = make_coordinate_grid((h, w), torch.float32, driving.shift.device)
        if bg_params is None:
            background = grid.expand(bs, h, w, 2)
        else:
            background = apply_homography(bg_params.float(), grid)
        affine = source.affine @ inverse_2x2(driving.affine)  # (B, K, 2, 2)
        if self.revert_axis_swap:
            affine = torch.where(affine[..., :1, :1] < 0, -affine, affine)
        centred = grid - driving.shift[:, :, None, None, :]  # (B, K, h, w, 2)
        regions = torch.einsum("bkij,bkhwj->bkhwi", affine, centred) + source.shift[:, :, None, None, :]
        return torch.cat([background.unsqueeze(1), regions], dim=1)

    def forward(self, source_image: torch.Tensor, driving: Regions, source: Regions,
                bg_params: torch.Tensor | None = None) -> FlowOutput:
        if self.scale_factor != 1:
            source_image = self.down(source_image)
        bs, _, h, w = source_image.shape
        with float32_math(driving.shift):  # sampling coordinates and their heatmaps
            driving, source = driving.to(torch.float32), source.to(torch.float32)
            heatmap = self.heatmap_representation((h, w), driving, source)
            sparse_motion = self.sparse_motions((h, w), driving, source, bg_params)
        sparse_deformed = None
        features = heatmap
        if self.use_deformed_source:
            sparse_deformed = self.deform_each(source_image, sparse_motion, align_corners=False)
            features = torch.cat([heatmap.to(sparse_deformed.dtype), sparse_deformed], dim=2)
        return FlowOutput(sparse_deformed, *self.combine(features.view(bs, -1, h, w), sparse_motion))
