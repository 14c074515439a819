"""The subjects of a still image (faces or people, largest first, each with its square crop), and the
error every crop step raises when there is none where one is needed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .box import Box, CropError
from .options import CropOptions


class NoSubjectError(CropError):
    """No face (or person) was found where one is needed."""


def no_subject_message(what: str, target: str, fix: str) -> str:
    size = "at least about 40 px tall" if target == "face" else "standing, at least about 128 px tall"
    return (f"no {target} found in {what} (the detector needs a {target} {size}, facing the camera or in "
            f"profile); {fix}")


@dataclass
class Subject:
    """A subject of a still image: the detected ``box`` and the square ``crop`` framing it."""

    box: Box
    crop: Box


def image_subjects(image: np.ndarray, options: CropOptions | None = None, what: str = "the image",
                   fix: str = "crop it by hand, or try --target person") -> list[Subject]:
    """Every subject of a photo, largest first, each with its square crop; :class:`NoSubjectError` when
    there is none (its message ends with ``fix``)."""
    options = options or CropOptions()
    height, width = image.shape[:2]
    boxes = options.level_boxes(image, options.detect(image))
    if not boxes:
        raise NoSubjectError(no_subject_message(what, options.target, fix))
    return [Subject(box, options.crop_box(box, width, height)) for box in boxes]
