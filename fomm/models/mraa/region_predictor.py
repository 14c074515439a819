"""Region predictor (paper Sec. 3.1): FOMM's keypoint-detector body predicts one heatmap per region;
each region is the heatmap's shift, covariance and PCA affine (:mod:`.regions`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks import AntiAliasInterpolation2d, Hourglass, full_precision
from .regions import Regions, regions_from_heatmap


class RegionPredictor(nn.Module):
    """Finds ``num_regions`` regions in an image (B, C, H, W) in [0, 1], at ``scale_factor`` of its
    resolution."""

    def __init__(self, block_expansion: int, num_regions: int, num_channels: int, max_features: int,
                 num_blocks: int, temperature: float, scale_factor: float = 1):
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels, max_features=max_features,
                                   num_blocks=num_blocks)
        self.regions = nn.Conv2d(self.predictor.out_filters, num_regions, kernel_size=(7, 7), padding=3)
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def heatmaps(self, image: torch.Tensor) -> torch.Tensor:
        """Each region's heatmap (B, K, h, w), a softmax over pixels at ``temperature``."""
        if self.scale_factor != 1:
            image = self.down(image)
        prediction = full_precision(self.regions(self.predictor(image)))
        b, k, h, w = prediction.shape
        return F.softmax(prediction.view(b, k, -1) / self.temperature, dim=2).view(b, k, h, w)

    def forward(self, image: torch.Tensor) -> Regions:
        return regions_from_heatmap(self.heatmaps(image))
