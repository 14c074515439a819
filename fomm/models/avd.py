"""Animation via disentanglement for FOMM's keypoints (our extension; MRAA Sec. 3.4, as MRAA and TPSMM
ship it): an identity encoder reads the source's keypoints, a pose encoder the driving frame's, and a
decoder makes keypoints with the source's shape in the driving pose, so that a driver of another body
shape does not reshape the source. Each keypoint enters as its position and, when the model estimates
them, its jacobian (6 numbers, as an MRAA region's shift and affine); the layers are MRAA's and TPSMM's
(Linear -> BatchNorm1d -> ReLU, 256-512-1024 wide, a bare Linear last)."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from .keypoint_detector import Keypoints


def avd_mlp(widths: list[int]) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU between consecutive widths, a bare Linear last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers)


class KeypointAVDNetwork(nn.Module):
    """Maps (identity keypoints, pose keypoints) to keypoints of the identity's shape in the pose."""

    def __init__(self, num_kp: int, with_jacobian: bool, id_bottle_size: int = 64, pose_bottle_size: int = 64):
        super().__init__()
        self.num_kp, self.with_jacobian = num_kp, with_jacobian
        self.per_kp = 6 if with_jacobian else 2
        size = num_kp * self.per_kp
        self.id_encoder = avd_mlp([size, 256, 512, 1024, id_bottle_size])
        self.pose_encoder = avd_mlp([size, 256, 512, 1024, pose_bottle_size])
        self.decoder = avd_mlp([pose_bottle_size + id_bottle_size, 1024, 512, 256, size])

    def _flatten(self, kp: Keypoints, bs: int) -> torch.Tensor:
        value = kp.value.expand(bs, *kp.value.shape[1:])
        if not self.with_jacobian:
            return value.reshape(bs, -1)
        jacobian = kp.jacobian.expand(bs, *kp.jacobian.shape[1:]).reshape(bs, self.num_kp, 4)
        return torch.cat([value, jacobian], dim=2).reshape(bs, -1)

    def forward(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        """Keypoints of batch B = ``kp_driving``'s (``kp_source`` may have batch 1 and is then broadcast)."""
        bs = kp_driving.value.shape[0]
        identity = self.id_encoder(self._flatten(kp_source, bs))
        pose = self.pose_encoder(self._flatten(kp_driving, bs))
        out = self.decoder(torch.cat([pose, identity], dim=1)).view(bs, self.num_kp, self.per_kp)
        jacobian = out[..., 2:].reshape(bs, self.num_kp, 2, 2) if self.with_jacobian else None
        return Keypoints(out[..., :2].contiguous(), None if jacobian is None else jacobian.contiguous())


__all__ = ["KeypointAVDNetwork", "avd_mlp"]
