"""Keypoint normalization for animation (paper Sec. 3.5): relative motion and adapt scale."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import ConvexHull

from ..models import Keypoints, float32_math, inverse_2x2


def convex_hull_area(points: torch.Tensor) -> float:
    """Area of the convex hull of (K, 2) points; scipy's ``volume`` of a 2-D hull is its area."""
    return float(ConvexHull(points.detach().cpu().double().numpy()).volume)


def movement_scale(kp_source: Keypoints, kp_driving_initial: Keypoints) -> float:
    """sqrt(hull area of the source) / sqrt(hull area of the initial driving frame), first item."""
    return float(np.sqrt(convex_hull_area(kp_source.value[0])) / np.sqrt(convex_hull_area(kp_driving_initial.value[0])))


def normalize_kp(kp_source: Keypoints, kp_driving: Keypoints, kp_driving_initial: Keypoints,
                 adapt_movement_scale: bool = False, use_relative_movement: bool = False,
                 use_relative_jacobian: bool = False, scale: float | None = None) -> Keypoints:
    """Driving keypoints expressed relative to the source, as the original ``normalize_kp``.

    relative: value = kp_source + (kp_driving - kp_driving_initial) * s;
    jacobian = (J_driving @ inv(J_driving_initial)) @ J_source. ``scale`` may be passed
    precomputed (it depends on the source and the initial frame only).
    """
    if scale is None:
        scale = movement_scale(kp_source, kp_driving_initial) if adapt_movement_scale else 1.0
    value, jacobian = kp_driving.value, kp_driving.jacobian
    if use_relative_movement:
        value = (kp_driving.value - kp_driving_initial.value) * scale + kp_source.value
        if use_relative_jacobian and jacobian is not None:
            with float32_math(jacobian):
                jacobian_diff = torch.matmul(kp_driving.jacobian, inverse_2x2(kp_driving_initial.jacobian))
                jacobian = torch.matmul(jacobian_diff, kp_source.jacobian)
    return Keypoints(value, jacobian)
