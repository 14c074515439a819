"""TPSMM's keypoint detector: a ResNet-18 regresses K x 5 control points directly (no heatmaps, no
jacobians), ``sigmoid * 2 - 1`` into [-1, 1] (paper Sec. 3.1)."""

from __future__ import annotations

import torch
from torch import nn

from ..blocks import full_precision
from ..keypoint_detector import Keypoints
from ..resnet import ResNet18

POINTS_PER_TPS = 5


class TPSKeypointDetector(nn.Module):
    """(B, C, H, W) in [0, 1] -> Keypoints(value (B, 5K, 2), jacobian None); the 5 points of
    transform k are rows 5k .. 5k + 4."""

    def __init__(self, num_tps: int, num_channels: int = 3, resnet_width: int = 64):
        super().__init__()
        self.num_tps = num_tps
        self.fg_encoder = ResNet18(num_tps * POINTS_PER_TPS * 2, in_channels=num_channels, width=resnet_width)

    def forward(self, image: torch.Tensor) -> Keypoints:
        points = torch.sigmoid(full_precision(self.fg_encoder(image))) * 2 - 1  # float32: coordinates
        return Keypoints(points.view(image.shape[0], self.num_tps * POINTS_PER_TPS, 2))
