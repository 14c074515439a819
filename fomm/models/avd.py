"""Animation via disentanglement for FOMM's keypoints (our extension; MRAA Sec. 3.4, as MRAA and TPSMM
ship it): an identity encoder reads the source's keypoints, a pose encoder the driving frame's, and a
decoder makes keypoints with the source's shape in the driving pose, so that a driver of another body
shape does not reshape the source. Each keypoint enters as its position and, when the model estimates
them, its jacobian (6 numbers, as an MRAA region's shift and affine). The layers, :class:`AVDEncoderDecoder`,
are every family's (Linear -> BatchNorm1d -> ReLU, 256-512-1024 wide, a bare Linear last): TPSMM's and
MRAA's AVD networks are built from them too."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from .keypoint_detector import Keypoints


def avd_mlp(widths: list[int]) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU between consecutive widths, a bare Linear last (TPSMM's published
    layer indices 0, 1, 3, 4, ... follow from this order)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers)


class AVDEncoderDecoder(nn.Module):
    """The three MLPs of every family's AVD network (MRAA Sec. 3.4; TPSMM's and MRAA's published
    ``id_encoder``, ``pose_encoder`` and ``decoder``, 256-512-1024 wide): each family flattens its
    motion (``size`` numbers per frame) and reads the result back in its own way."""

    def __init__(self, size: int, id_bottle_size: int = 64, pose_bottle_size: int = 64):
        super().__init__()
        self.id_encoder = avd_mlp([size, 256, 512, 1024, id_bottle_size])
        self.pose_encoder = avd_mlp([size, 256, 512, 1024, pose_bottle_size])
        self.decoder = avd_mlp([pose_bottle_size + id_bottle_size, 1024, 512, 256, size])

    def disentangle(self, identity: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """(B, size) flattened identity and pose motions -> (B, size): the identity's shape in the pose."""
        return self.decoder(torch.cat([self.pose_encoder(pose), self.id_encoder(identity)], dim=1))


class KeypointAVDNetwork(AVDEncoderDecoder):
    """Maps (identity keypoints, pose keypoints) to keypoints of the identity's shape in the pose."""

    def __init__(self, num_kp: int, with_jacobian: bool, id_bottle_size: int = 64, pose_bottle_size: int = 64):
        per_kp = 6 if with_jacobian else 2
        super().__init__(num_kp * per_kp, id_bottle_size, pose_bottle_size)
        self.num_kp, self.with_jacobian, self.per_kp = num_kp, with_jacobian, per_kp

    def _flatten(self, kp: Keypoints, bs: int) -> torch.Tensor:
        value = kp.value.expand(bs, *kp.value.shape[1:])
        if not self.with_jacobian:
            return value.reshape(bs, -1)
        jacobian = kp.jacobian.expand(bs, *kp.jacobian.shape[1:]).reshape(bs, self.num_kp, 4)
        return torch.cat([value, jacobian], dim=2).reshape(bs, -1)

    def forward(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        """Keypoints of batch B = ``kp_driving``'s (``kp_source`` may have batch 1 and is then broadcast)."""
        bs = kp_driving.value.shape[0]
        out = self.disentangle(self._flatten(kp_source, bs), self._flatten(kp_driving, bs))
        out = out.view(bs, self.num_kp, self.per_kp)
        jacobian = out[..., 2:].reshape(bs, self.num_kp, 2, 2) if self.with_jacobian else None
        return Keypoints(out[..., :2].contiguous(), None if jacobian is None else jacobian.contiguous())


__all__ = ["AVDEncoderDecoder", "KeypointAVDNetwork", "avd_mlp"]
