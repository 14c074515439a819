"""Animation via disentanglement (MRAA Sec. 3.4, as TPSMM uses it): an identity encoder reads the
source's keypoints, a pose encoder the driving ones, and a decoder makes keypoints with the
source's shape in the driving pose (the layers: :class:`fomm.models.avd.AVDEncoderDecoder`)."""

from __future__ import annotations

from ..avd import AVDEncoderDecoder
from ..keypoint_detector import Keypoints


class AVDNetwork(AVDEncoderDecoder):
    def __init__(self, num_points: int, id_bottle_size: int = 64, pose_bottle_size: int = 64):
        super().__init__(num_points * 2, id_bottle_size, pose_bottle_size)
        self.num_points = num_points

    def forward(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        """Keypoints of batch B (``kp_source`` may have batch 1 and is then broadcast)."""
        bs = kp_driving.value.shape[0]
        source = kp_source.value.expand(bs, *kp_source.value.shape[1:]).reshape(bs, -1)
        return Keypoints(self.disentangle(source, kp_driving.value.reshape(bs, -1)).view(bs, self.num_points, 2))
