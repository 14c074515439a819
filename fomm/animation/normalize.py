"""Keypoint normalization for animation (paper Sec. 3.5): relative motion and adapt scale."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import ConvexHull, QhullError

from ..errors import FommError
from ..models import Keypoints, float32_math, inverse_2x2


class FlatKeypointsError(FommError, ValueError):
    """Adapt scale needs keypoints that enclose an area (3 or more, not on one line)."""


def convex_hull_area(points: torch.Tensor) -> float:
    """Area of the convex hull of (K, 2) points; scipy's ``volume`` of a 2-D hull is its area. Fewer than
    3 points, or points on one line (a collapsed detector), have none: 0."""
    try:
        return float(ConvexHull(points.detach().cpu().double().numpy()).volume)
    except (QhullError, ValueError):
        return 0.0


def movement_scale(kp_source: Keypoints, kp_driving_initial: Keypoints) -> float:
    """sqrt(hull area of the source) / sqrt(hull area of the initial driving frame), first item."""
    areas = {"source": convex_hull_area(kp_source.value[0]),
             "first driving frame": convex_hull_area(kp_driving_initial.value[0])}
    flat = [name for name, area in areas.items() if not area > 0]
    if flat:
        raise FlatKeypointsError(
            f"the keypoints of the {' and the '.join(flat)} enclose no area (fewer than 3 "
            "points, or all on one line), so adapt scale cannot measure the motion's size: animate without it "
            "(--no-adapt-scale; adapt_scale=False in Python)")
    return float(np.sqrt(areas["source"]) / np.sqrt(areas["first driving frame"]))


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
