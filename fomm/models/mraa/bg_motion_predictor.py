"""Background motion predictor (paper Sec. 3.3): a global transform of the background between the
source and the driving frame, as a 3x3 matrix acting on homogeneous [-1, 1] coordinates."""

from __future__ import annotations

import torch
from torch import nn

from ..blocks import Encoder

# bg_type -> how many numbers the network regresses.
BG_PARAMETERS = {"zero": 0, "shift": 2, "affine": 6, "perspective": 8}


class BGMotionPredictor(nn.Module):
    """``bg_type``: ``zero`` (identity, no network), ``shift`` (a translation), ``affine`` or
    ``perspective`` (a homography with its last entry fixed to 1). The regression starts at the
    identity."""

    def __init__(self, block_expansion: int, num_channels: int, max_features: int, num_blocks: int,
                 bg_type: str = "affine"):
        super().__init__()
        if bg_type not in BG_PARAMETERS:
            raise ValueError(f"bg_type must be one of {', '.join(BG_PARAMETERS)}, got {bg_type!r}")
        self.bg_type = bg_type
        if bg_type == "zero":
            return
        self.encoder = Encoder(block_expansion, in_features=num_channels * 2, num_blocks=num_blocks,
                               max_features=max_features)
        width = min(max_features, block_expansion * 2**num_blocks)
        self.fc = nn.Linear(width, BG_PARAMETERS[bg_type])
        identity = {"shift": [0.0, 0.0], "affine": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                    "perspective": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]}[bg_type]
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.copy_(torch.tensor(identity))

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        """The background transform (B, 3, 3) from driving to source coordinates."""
        bs = source.shape[0]
        eye = torch.eye(3, dtype=torch.float32, device=source.device).expand(bs, 3, 3)
        if self.bg_type == "zero":
            return eye.clone()
        features = self.encoder(torch.cat([source, driving], dim=1))[-1]
        params = self.fc(features.mean(dim=(2, 3))).float()  # global average pooling
        if self.bg_type == "shift":
            out = eye.clone()
            out[:, :2, 2] = params
            return out
        if self.bg_type == "affine":
            return torch.cat([params.view(bs, 2, 3), eye[:, 2:]], dim=1)
        return torch.cat([params, params.new_ones(bs, 1)], dim=1).view(bs, 3, 3)
