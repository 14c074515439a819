"""Keypoint detector: an hourglass predicts one heatmap per keypoint; each keypoint is the heatmap's
soft-argmax, plus (optionally) a local 2x2 jacobian pooled with the same heatmap (paper Sec. 3.2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AntiAliasInterpolation2d, Hourglass, full_precision, make_coordinate_grid


@dataclass
class Keypoints:
    """Keypoints in normalized [-1, 1] coordinates, x first.

    ``value``: (B, K, 2); ``jacobian``: (B, K, 2, 2) or None when the model estimates none.
    """

    value: torch.Tensor
    jacobian: torch.Tensor | None = None

    def detach(self) -> Keypoints:
        return Keypoints(self.value.detach(), None if self.jacobian is None else self.jacobian.detach())

    def to(self, *args, **kwargs) -> Keypoints:
        jac = None if self.jacobian is None else self.jacobian.to(*args, **kwargs)
        return Keypoints(self.value.to(*args, **kwargs), jac)

    def __getitem__(self, index) -> Keypoints:
        jac = None if self.jacobian is None else self.jacobian[index]
        return Keypoints(self.value[index], jac)

    def __len__(self) -> int:
        return self.value.shape[0]

    @staticmethod
    def cat(items: list[Keypoints]) -> Keypoints:
        value = torch.cat([k.value for k in items])
        jac = None if items[0].jacobian is None else torch.cat([k.jacobian for k in items])
        return Keypoints(value, jac)

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The original code's dict form ``{'value', 'jacobian'}``."""
        out = {"value": self.value}
        if self.jacobian is not None:
            out["jacobian"] = self.jacobian
        return out


class KPDetector(nn.Module):
    """Detects ``num_kp`` keypoints (and their jacobians) in an image (B, C, H, W) in [0, 1]."""

    def __init__(self, block_expansion: int, num_kp: int, num_channels: int, max_features: int,
                 num_blocks: int, temperature: float, estimate_jacobian: bool = False,
                 scale_factor: float = 1, single_jacobian_map: bool = False, pad: int = 0):
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels,
                                   max_features=max_features, num_blocks=num_blocks)
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps,
                                      kernel_size=(7, 7), padding=pad)
            # Start from the identity jacobian, as the original does.
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.jacobian = None
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def forward(self, image: torch.Tensor) -> Keypoints:
        if self.scale_factor != 1:
            image = self.down(image)
        feature_map = self.predictor(image)
        # The soft-argmax and the jacobians stay float32 under reduced precision (keypoint accuracy).
        prediction = full_precision(self.kp(feature_map))  # (B, K, h, w)
        b, k, h, w = prediction.shape
        heatmap = F.softmax(prediction.view(b, k, -1) / self.temperature, dim=2).view(b, k, h, w)
        grid = make_coordinate_grid((h, w), heatmap.dtype, heatmap.device)
        value = (heatmap.unsqueeze(-1) * grid).sum(dim=(2, 3))  # (B, K, 2)
        jacobian = None
        if self.jacobian is not None:
            jacobian_map = full_precision(self.jacobian(feature_map)).reshape(b, self.num_jacobian_maps, 4, h, w)
            jacobian = (heatmap.unsqueeze(2) * jacobian_map).view(b, k, 4, -1).sum(dim=-1)
            jacobian = jacobian.view(b, k, 2, 2)
        return Keypoints(value, jacobian)
