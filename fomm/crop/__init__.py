"""Real footage: find the subject (face or person), track it, crop it like the training data, and paste
the animated crop back into the full-resolution photo.

    from fomm.crop import detect_faces
    faces = detect_faces(image)          # [Box(x, y, w, h, score), ...] in pixels, largest first
"""

from .box import Box, CropError, frame_box, parse_box
from .detect import TARGETS, available_backends, detect, detect_faces, detect_people, non_max_suppression

__all__ = [
    "TARGETS", "Box", "CropError", "available_backends", "detect", "detect_faces", "detect_people", "frame_box",
    "non_max_suppression", "parse_box",
]
