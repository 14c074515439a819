"""Animation via disentanglement (MRAA Sec. 3.4, as TPSMM uses it): an identity encoder reads the
source's keypoints, a pose encoder the driving ones, and a decoder makes keypoints with the
source's shape in the driving pose."""

from __future__ import annotations

import torch
from torch import nn

from ..keypoint_detector import Keypoints


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU per hidden layer, a bare Linear last (indices as published)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(n_out), nn.ReLU()]
    return nn.Sequential(*layers)


class AVDNetwork(nn.Module):
    def __init__(self, num_points: int, id_bottle_size: int = 64, pose_bottle_size: int = 64):
        super().__init__()
        size = num_points * 2
        self.id_encoder = _mlp([size, 256, 512, 1024, id_bottle_size])
        self.pose_encoder = _mlp([size, 256, 512, 1024, pose_bottle_size])
        self.decoder = _mlp([pose_bottle_size + id_bottle_size, 1024, 512, 256, size])
        self.num_points = num_points

    def forward(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        """Keypoints of batch B (``kp_source`` may have batch 1 and is then broadcast)."""
        bs = kp_driving.value.shape[0]
        source = kp_source.value.expand(bs, *kp_source.value.shape[1:]).reshape(bs, -1)
        pose = self.pose_encoder(kp_driving.value.reshape(bs, -1))
        identity = self.id_encoder(source)
        return Keypoints(self.decoder(torch.cat([pose, identity], dim=1)).view(bs, self.num_points, 2))
