"""Animation: keypoint normalization, the best starting frame, and the streaming animator."""

from .animator import (
    AnimatedFrame,
    AnimationError,
    Animator,
    BestFrame,
    FrameKeypoints,
    animate,
    detect_keypoints,
    keypoints_to_pixels,
)
from .best_frame import pose_distance
from .layout import LAYOUTS, compose
from .normalize import movement_scale, normalize_kp

__all__ = [
    "LAYOUTS", "AnimatedFrame", "AnimationError", "Animator", "BestFrame", "FrameKeypoints", "animate",
    "compose", "detect_keypoints", "keypoints_to_pixels", "movement_scale", "normalize_kp", "pose_distance",
]
