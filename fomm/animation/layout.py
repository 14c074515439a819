"""What an output frame shows: the result alone, or source | driving | result, with keypoints drawn.

Shared by ``fomm animate``, ``fomm demo``, the app and the live mode."""

from __future__ import annotations

import numpy as np

from ..io import draw_keypoints
from .animator import AnimatedFrame, Animator, keypoints_to_pixels

LAYOUTS = ("result", "side-by-side")


def compose(animator: Animator, frame: AnimatedFrame, layout: str = "result", keypoints: bool = False) -> np.ndarray:
    """The output frame: the result, or source | driving | result; with the keypoints drawn if asked
    (the source's, the driving frame's, and on the result the keypoints it was generated with)."""
    size = animator.size

    def dots(image: np.ndarray, kp: np.ndarray) -> np.ndarray:
        return draw_keypoints(image, keypoints_to_pixels(kp, (size, size), size)) if keypoints else image

    result = dots(frame.image, frame.kp_used)
    if layout == "result":
        return result
    return np.concatenate([dots(animator.source_frame, animator.kp_source_array),
                           dots(frame.driving, frame.kp_driving), result], axis=1)
