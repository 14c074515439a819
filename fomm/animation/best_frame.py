"""The driving frame whose pose best matches the source's, to start relative animation from.

The original demo compared face-alignment landmarks (``--find_best_frame``); we compare the model's
own keypoints, which exist for every kind of object, need no extra dependency and never fail with
"no faces detected". Both keypoint sets are centered and scaled to unit spread, so the comparison
is of pose (arrangement), not of position or size; the frame with the least squared distance wins.
"""

from __future__ import annotations

import torch


def normalized_pose(value: torch.Tensor) -> torch.Tensor:
    """Keypoints (B, K, 2) centered on their mean and divided by their RMS distance to it."""
    centered = value - value.mean(dim=1, keepdim=True)
    spread = centered.pow(2).sum(dim=-1).mean(dim=-1).sqrt().clamp_min(1e-8)  # (B,)
    return centered / spread[:, None, None]


def pose_distance(kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
    """Squared distance between normalized poses: source (1, K, 2) against driving (B, K, 2) -> (B,)."""
    return (normalized_pose(kp_driving) - normalized_pose(kp_source)).pow(2).sum(dim=(1, 2))
