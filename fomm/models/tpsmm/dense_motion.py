"""TPSMM's dense motion network (paper Sec. 3.2-3.3): K thin-plate-spline motions plus the background
motion are weighed per pixel into one optical flow, and multi-resolution occlusion masks are
predicted for the inpainting network, all at ``scale_factor`` of the input."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks import (
    AntiAliasInterpolation2d,
    Hourglass,
    UpBlock2d,
    float32_math,
    full_precision,
    instance_norm,
    kp2gaussian,
    make_coordinate_grid,
    warp,
)
from ..keypoint_detector import Keypoints
from ..tps import KeypointTPS
from .keypoint_detector import POINTS_PER_TPS

NUM_OCCLUSION_MASKS = 4  # with multi_mask: 1/8, 1/4, 1/2 and 1 of the input resolution


@dataclass
class TPSDenseMotion:
    deformed_source: torch.Tensor  # (B, K+1, C, h, w): the source under each transform
    contribution_maps: torch.Tensor  # (B, K+1, h, w): softmax weights of the transforms (Eq. 6)
    deformation: torch.Tensor  # (B, h, w, 2): the optical flow, driving -> source coordinates
    occlusion_map: list[torch.Tensor]  # (B, 1, h_i, w_i) masks, coarsest first (one without multi_mask)


def dropout_softmax(logits: torch.Tensor, p: float) -> torch.Tensor:
    """The softmax over the K+1 transforms with TPS dropout (paper Eq. 7-8), as the authors' code: each
    keypoint transform of a sample is kept with probability 1 - p (the background always), the kept
    ones renormalized: ``exp(x_k - max) * keep_k / (sum_j exp(x_j - max) * keep_j + 1e-6)``. The keep
    draws are ``torch.rand(B, K+1)`` on the CPU generator, as theirs (so a seed gives their masks)."""
    keep = (torch.rand(logits.shape[0], logits.shape[1]) < (1 - p)).to(logits.dtype).to(logits.device)
    keep[:, 0] = 1
    exp = (logits - logits.max(1, keepdim=True).values).exp() * keep[:, :, None, None]
    return exp / (exp.sum(dim=1, keepdim=True) + 1e-6)


class TPSDenseMotionNetwork(nn.Module):
    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_tps: int,
                 num_channels: int, scale_factor: float = 0.25, multi_mask: bool = True, kp_variance: float = 0.01):
        super().__init__()
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)
        self.scale_factor = scale_factor
        self.multi_mask = multi_mask
        num_points = num_tps * POINTS_PER_TPS
        self.hourglass = Hourglass(block_expansion, in_features=num_channels * (num_tps + 1) + num_points + 1,
                                   max_features=max_features, num_blocks=num_blocks, norm=instance_norm)
        levels = self.hourglass.decoder.level_filters
        self.maps = nn.Conv2d(levels[-1], num_tps + 1, kernel_size=(7, 7), padding=(3, 3))
        if multi_mask:
            # The finest decoder levels give the coarse masks; up blocks on the last level give the
            # finer ones, up to the network's input resolution.
            self.up_nums = int(math.log(1 / scale_factor, 2))
            widths = [levels[-1] // 2**i for i in range(self.up_nums + 1)]
            self.up = nn.ModuleList(UpBlock2d(widths[i], widths[i + 1], norm=instance_norm)
                                    for i in range(self.up_nums))
            inputs = levels[len(levels) - (NUM_OCCLUSION_MASKS - self.up_nums):] + widths[1:]
        else:
            self.up_nums, inputs = 0, [levels[-1]]
        self.occlusion = nn.ModuleList(nn.Conv2d(n, 1, kernel_size=(7, 7), padding=(3, 3)) for n in inputs)
        self.num_tps = num_tps
        self.kp_variance = kp_variance

    def heatmap_representation(self, spatial_size, kp_driving: Keypoints, kp_source: Keypoints) -> torch.Tensor:
        """Gaussians of the driving minus the source keypoints, a zero map first: (B, 5K+1, h, w)."""
        heatmap = (kp2gaussian(kp_driving.value, spatial_size, self.kp_variance)
                   - kp2gaussian(kp_source.value, spatial_size, self.kp_variance))
        return torch.cat([heatmap.new_zeros(heatmap.shape[0], 1, *spatial_size), heatmap], dim=1)

    def fit(self, kp_driving: Keypoints, kp_source: Keypoints) -> KeypointTPS:
        """The K thin-plate splines of Eq. 2, from each group of 5 driving points to the source's."""
        bs = kp_driving.value.shape[0]
        return KeypointTPS(kp_driving.value.view(bs, self.num_tps, POINTS_PER_TPS, 2),
                           kp_source.value.view(bs, self.num_tps, POINTS_PER_TPS, 2))

    def transformations(self, spatial_size, kp_driving: Keypoints, kp_source: Keypoints,
                        bg_param: torch.Tensor | None = None, tps: KeypointTPS | None = None) -> torch.Tensor:
        """The K+1 sampling grids (B, K+1, h, w, 2): the background's (identity, or the affine
        ``bg_param`` (B, 3, 3)) first, then the K keypoint TPS of Eq. 2 (``tps``: already fitted)."""
        h, w = spatial_size
        bs = kp_driving.value.shape[0]
        with float32_math(kp_driving.value):
            tps = tps if tps is not None else self.fit(kp_driving, kp_source)
            driving_to_source = tps.grid(h, w)
            identity = make_coordinate_grid((h, w), driving_to_source.dtype, driving_to_source.device)
            background = identity.view(1, 1, h, w, 2).expand(bs, 1, h, w, 2)
            if bg_param is not None:
                homogeneous = torch.cat([background, background.new_ones(bs, 1, h, w, 1)], dim=-1)
                moved = torch.einsum("bij,bkhwj->bkhwi", full_precision(bg_param), homogeneous)
                background = moved[..., :2] / moved[..., 2:3]
            return torch.cat([background, driving_to_source], dim=1)

    def forward(self, source_image: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints,
                bg_param: torch.Tensor | None = None, tps: KeypointTPS | None = None,
                dropout_p: float | None = None) -> TPSDenseMotion:
        """``dropout_p``: training's TPS dropout probability (:func:`dropout_softmax`); None: none."""
        if self.scale_factor != 1:
            source_image = self.down(source_image)
        bs, c, h, w = source_image.shape
        n = self.num_tps + 1
        heatmap = self.heatmap_representation((h, w), kp_driving, kp_source)
        transformations = self.transformations((h, w), kp_driving, kp_source, bg_param, tps)
        repeated = source_image.unsqueeze(1).expand(bs, n, c, h, w).reshape(bs * n, c, h, w)
        deformed = warp(repeated, transformations.reshape(bs * n, h, w, 2), align_corners=True).view(bs, n, c, h, w)
        features = torch.cat([heatmap.to(deformed.dtype), deformed.view(bs, -1, h, w)], dim=1)
        levels = self.hourglass.levels(features)
        # float32: the maps weigh the transforms into grid_sample coordinates.
        logits = full_precision(self.maps(levels[-1]))
        contribution_maps = (F.softmax(logits, dim=1) if dropout_p is None
                             else dropout_softmax(logits, dropout_p))  # (B, K+1, h, w)
        deformation = (transformations * contribution_maps.unsqueeze(-1)).sum(dim=1)  # (B, h, w, 2)
        return TPSDenseMotion(deformed, contribution_maps, deformation, self.occlusion_masks(levels))

    def occlusion_masks(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        if not self.multi_mask:
            return [torch.sigmoid(self.occlusion[0](levels[-1]))]
        from_levels = NUM_OCCLUSION_MASKS - self.up_nums
        pairs = zip(self.occlusion[:from_levels], levels[-from_levels:], strict=True)
        masks = [torch.sigmoid(conv(level)) for conv, level in pairs]
        out = levels[-1]
        for up, conv in zip(self.up, self.occlusion[from_levels:], strict=True):
            out = up(out)
            masks.append(torch.sigmoid(conv(out)))
        return masks
