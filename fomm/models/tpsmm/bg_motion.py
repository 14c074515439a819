"""TPSMM's background motion predictor: a ResNet-18 on the source and driving frames side by side
(6 channels) regresses an affine transform of the background, as a 3x3 matrix (last row 0 0 1)."""

from __future__ import annotations

import torch
from torch import nn

from ..blocks import full_precision
from ..resnet import ResNet18


class BGMotionPredictor(nn.Module):
    def __init__(self, num_channels: int = 3, resnet_width: int = 64):
        super().__init__()
        self.bg_encoder = ResNet18(6, in_channels=2 * num_channels, width=resnet_width)
        with torch.no_grad():  # start from the identity, as the authors do
            self.bg_encoder.fc.weight.zero_()
            self.bg_encoder.fc.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]))

    def forward(self, source_image: torch.Tensor, driving_image: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) x 2 -> (B, 3, 3)."""
        affine = full_precision(self.bg_encoder(torch.cat([source_image, driving_image], dim=1)))
        last_row = affine.new_tensor([0.0, 0.0, 1.0]).expand(affine.shape[0], 1, 3)
        return torch.cat([affine.view(-1, 2, 3), last_row], dim=1)
