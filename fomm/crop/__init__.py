"""Real footage: find the subject (face or person), track it, crop it like the training data, and paste
the animated crop back into the full-resolution photo.

    from fomm.crop import CropOptions, PasteBack, crop_square, detect_faces, plan_crops

    faces = detect_faces(image)                    # [Box(x, y, w, h, score), ...] in pixels, largest first
    options = CropOptions(target="face", size=256)
    crop = options.crop_box(faces[0], width, height)   # the square framed like the training data
    face = crop_square(image, crop, 256)           # (256, 256, 3)
    plan = plan_crops(video_frames, options)       # tracks, segments with one fixed crop each
    paste = PasteBack(image, crop)                 # animated crop -> full-resolution frame
"""

from .box import Box, CropError, frame_box, parse_box
from .detect import TARGETS, available_backends, detect, detect_faces, detect_people, non_max_suppression
from .image import PasteBack, crop_square, feather_mask, paste_back, square_pixels, user_box
from .options import CropOptions
from .subjects import NoSubjectError, Subject, image_subjects
from .track import CropPlan, FrameBox, Segment, Track, Tracker, plan_crops

__all__ = [
    "TARGETS", "Box", "CropError", "CropOptions", "CropPlan", "FrameBox", "NoSubjectError", "PasteBack", "Segment",
    "Subject", "Track", "Tracker", "available_backends", "crop_square", "detect", "detect_faces", "detect_people",
    "feather_mask", "frame_box", "image_subjects", "non_max_suppression", "parse_box", "paste_back", "plan_crops",
    "square_pixels", "user_box",
]
