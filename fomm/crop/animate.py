"""Animating real footage: the source photo's subject(s) and the driving video's subject are cropped
like the training data, animated by the unchanged :class:`~fomm.animation.Animator`, and the results
optionally pasted back into the full-resolution photo. Everything here is a transform on frame
streams around the animator.

    crops = CropAnimation.prepare(model, photo, driving_path, crop="auto", paste_back=True)
    for frame in crops.stream(reader):           # a driving video, read once more
        writer.write(frame.image)                # the photo's size, the face(s) animated

The driving crop is fixed within each segment of the driving video (see :mod:`fomm.crop.track`), so
head translation inside it stays motion; at each segment start the relative motion starts again from
that segment's first frame. Frames where the driving subject is missing reuse the segment's reference
frame: the animated face rests in the source's pose instead of following noise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..animation import AnimatedFrame, Animator
from ..models import Keypoints
from .box import Box, CropError
from .clips import NoSubjectError, image_subjects, no_subject_message
from .image import PasteBack, crop_square, user_box
from .track import CropOptions, CropPlan, plan_crops

logger = logging.getLogger(__name__)

CROPS = ("auto", "none")  # or a Box


def parse_crop(text: str) -> str | Box:
    """``--crop`` values: ``"auto"``, ``"none"`` or ``X,Y,W,H`` (a :class:`Box`)."""
    from .box import parse_box

    return text if text in CROPS else parse_box(text)


CLI_SOURCE_FIX = "pass --crop X,Y,W,H to give its box by hand, or --crop none to use the whole photo"
CLI_DRIVING_FIX = "pass --crop X,Y,W,H to give the driving crop by hand, or --crop none"


def source_boxes(photo: np.ndarray, crop: str | Box, options: CropOptions, faces: str = "largest", *,
                 fit: str = "crop", fix: str = CLI_SOURCE_FIX) -> list[Box]:
    """The square crop(s) of the source photo: the largest subject, or every one (``faces="all"``),
    the box given by hand, or for ``crop="none"`` the square the animator would take by itself (the
    center square, or the padded square with ``fit="pad"``). :class:`NoSubjectError` (its message
    ending with ``fix``) says how to go on when nothing is found."""
    height, width = photo.shape[:2]
    if isinstance(crop, Box):
        return [user_box(crop, width, height)]
    if crop == "none":
        side = min(height, width) if fit == "crop" else max(height, width)
        return [Box((width - side) // 2, (height - side) // 2, side, side)]
    subjects = image_subjects(photo, options, "the source photo", fix)
    return [s.crop for s in (subjects if faces == "all" else subjects[:1])]


@dataclass
class DrivingCrops:
    """The crop of every driving frame and where relative motion restarts.

    ``boxes[f]``: the crop of frame f. ``groups``: (start, end, reference) runs of frames sharing one crop
    and one reference frame (a segment, plus the subject-less frames after it). ``present[f]``: whether
    the subject is there (frames without it are animated from the reference frame).
    """

    boxes: list[Box]
    groups: list[tuple[int, int, int]]
    present: list[bool]
    plan: CropPlan | None = None
    default: Box | None = None  # the crop of frames past ``boxes`` (all frames for a fixed crop)

    @classmethod
    def fixed(cls, box: Box) -> DrivingCrops:
        """One box for every frame, the subject always there."""
        return cls([], [(0, 1 << 62, 0)], [], default=box)

    @classmethod
    def from_plan(cls, plan: CropPlan, what: str = "the driving video", fix: str = CLI_DRIVING_FIX) -> DrivingCrops:
        if not plan.subjects:
            raise NoSubjectError(no_subject_message(
                f"any of the {plan.num_frames} driving frames of {what}", plan.options.target, fix))
        segments = plan.subjects[0]
        boxes: list[Box] = [segments[0].crop] * plan.num_frames
        present = [False] * plan.num_frames
        groups = []
        for k, segment in enumerate(segments):
            start = 0 if k == 0 else segment.start
            end = segments[k + 1].start if k + 1 < len(segments) else plan.num_frames
            groups.append((start, end, segment.start))
            for f in range(start, end):
                boxes[f] = segment.crop
            for f in range(segment.start, segment.end):
                present[f] = True
        return cls(boxes, groups, present, plan, default=boxes[-1])

    @property
    def num_segments(self) -> int:
        """Segments of the tracked subject (1 for a fixed crop): relative motion restarts at each."""
        return len(self.plan.subjects[0]) if self.plan and self.plan.subjects else 1

    def box(self, frame: int) -> Box:
        return self.boxes[frame] if frame < len(self.boxes) else self.default

    def group(self, frame: int) -> tuple[int, int, int]:
        for group in self.groups:
            if group[0] <= frame < group[1]:
                return group
        return self.groups[-1]

    def is_present(self, frame: int) -> bool:
        return self.present[frame] if frame < len(self.present) else True


def driving_crops(frames: Iterable[np.ndarray], options: CropOptions, what: str = "the driving video",
                  fix: str = CLI_DRIVING_FIX) -> DrivingCrops:
    """Track the driving video's main subject (one pass) and fix one crop per segment."""
    return DrivingCrops.from_plan(plan_crops(frames, options), what, fix)


def plan_driving(frames: Iterable[np.ndarray], frame_size: tuple[int, int], crop: str | Box, options: CropOptions,
                 what: str = "the driving video", fix: str = CLI_DRIVING_FIX) -> DrivingCrops | None:
    """The driving video's crops for ``crop``: None for "none" (frames go in whole), one box for every
    frame for a box given by hand (``frame_size`` = (width, height)), tracked for "auto" (``frames``
    are read only then)."""
    if crop == "none":
        return None
    if isinstance(crop, Box):
        return DrivingCrops.fixed(user_box(crop, *frame_size))
    return driving_crops(frames, options, what, fix)


@dataclass
class CroppedFrame:
    """One output frame of a cropped animation: ``image`` (the pasted full-resolution frame, or the first
    face's animated crop), the animator's frames per face, and the driving frame as read."""

    index: int
    image: np.ndarray
    faces: list[AnimatedFrame]
    driving: np.ndarray
    driving_box: Box | None = None
    present: bool = True


@dataclass
class CropAnimation:
    """Animators for the cropped face(s) of one photo, driven by cropped driving frames.

    ``animators[i]`` animates the crop ``boxes[i]`` of ``photo``; ``pasters`` (with paste-back) put the
    results back. ``driving``: the crops of the driving frames (None: frames go in as they are, with
    the animator's own center crop). ``keypoints``: draw keypoints on the animated crops.
    """

    photo: np.ndarray
    boxes: list[Box]
    animators: list[Animator]
    driving: DrivingCrops | None
    pasters: list[PasteBack] = field(default_factory=list)
    keypoints: bool = False
    chunk: int = 0

    @classmethod
    def prepare(cls, make_animator: Callable[[np.ndarray], Animator], photo: np.ndarray, boxes: Sequence[Box],
                driving: DrivingCrops | None, size: int, *, paste_back: bool = False, keypoints: bool = False,
                feather: float = 0.12) -> CropAnimation:
        """``make_animator(source_crop)`` builds an animator for one face crop of ``size`` px (the model and
        options chosen by the caller, at that size); one is made per box."""
        if not boxes:
            raise CropError("no source box to animate")
        if len(boxes) > 1 and not paste_back:
            raise CropError("animating several faces needs paste-back (there is one picture to put them in); "
                            "add --paste-back or drop --faces all")
        animators = [make_animator(crop_square(photo, box, size)) for box in boxes]
        pasters = [PasteBack(photo, box, feather=feather) for box in boxes] if paste_back else []
        return cls(photo, list(boxes), animators, driving, pasters, keypoints)

    @property
    def size(self) -> int:
        return self.animators[0].size

    def crop_driving(self, frame: np.ndarray, index: int) -> np.ndarray:
        if self.driving is None:
            return frame
        return crop_square(frame, self.driving.box(index), self.size)

    def best_frame(self, frames: Iterable[np.ndarray], index: int | None = None) -> tuple[int, float | None, dict]:
        """Relative motion's reference from a best frame of the (full, as read) driving ``frames``: the
        one whose cropped pose best matches the first face's source (``index`` None) or frame ``index``.
        Returns (frame index, pose distance or None, ``reference`` for :meth:`stream`): the reference
        applies to the group (segment) holding that frame."""
        animator = self.animators[0]
        cropped = (self.crop_driving(frame, i) for i, frame in enumerate(frames))
        distance = None
        if index is None:
            best = animator.find_best_frame(cropped)
            index, distance, keypoints = best.index, best.distance, best.keypoints
        else:
            keypoints = animator.keypoints_at(cropped, index)
        start = self.driving.group(index)[0] if self.driving else 0
        return index, distance, {start: keypoints}

    def stream(self, frames: Iterable[np.ndarray],
               reference: dict[int, Keypoints] | None = None) -> Iterator[CroppedFrame]:
        """Animate every driving frame (full frames, as read), in order. ``reference``: relative mode's
        initial keypoints for a group, keyed by the group's start frame (e.g. from a best frame); a group
        without one starts from its segment's first frame. Frames without the driving subject show the
        source at rest (the photo itself, unchanged, with paste-back)."""
        reference = dict(reference or {})
        chunk_size = self.chunk or 2 * self.animators[0].batch_size
        pending: list[tuple[int, np.ndarray, np.ndarray | None]] = []  # (index, frame, crop or None: absent)
        group = None

        def flush() -> Iterator[CroppedFrame]:
            fed = [p[2] for p in pending if p[2] is not None]
            initial = reference.get(group[0]) if group else None
            results = [iter(a.stream(fed, initial)) if fed else iter(()) for a in self.animators]
            for index, frame, crop in pending:
                if crop is None:
                    faces = [_at_rest(a, index) for a in self.animators]
                else:
                    faces = [_renumber(next(r), index) for r in results]
                image = self.photo.copy() if crop is None and self.pasters else self._image(faces)
                yield CroppedFrame(index, image, faces, frame,
                                   self.driving.box(index) if self.driving else None, crop is not None)
            pending.clear()

        for index, frame in enumerate(frames):
            current = self.driving.group(index) if self.driving else (0, 1 << 62, 0)
            if current != group:
                yield from flush()
                group = current
            present = self.driving.is_present(index) if self.driving else True
            crop = self.crop_driving(frame, index) if present else None
            if index == group[2] and group[0] not in reference and crop is not None:
                reference[group[0]] = self.animators[0].keypoints_at([crop], 0)
            pending.append((index, frame, crop))
            if len(pending) >= chunk_size:
                yield from flush()
        yield from flush()

    def render(self, frame: CroppedFrame, layout: str = "result") -> np.ndarray:
        """The output picture of ``frame`` in ``layout``: with paste-back the pasted photo (or photo |
        driving | result), else the first face's crop in the animator's layouts."""
        if self.pasters:
            return compose_pasted(self, frame, layout)
        from ..animation import compose

        return compose(self.animators[0], frame.faces[0], layout, self.keypoints)

    def _image(self, faces: list[AnimatedFrame]) -> np.ndarray:
        from ..animation import compose

        crops = [compose(a, f, "result", self.keypoints) for a, f in zip(self.animators, faces, strict=True)]
        if not self.pasters:
            return crops[0]
        out = self.photo
        for paster, crop in zip(self.pasters, crops, strict=True):
            out = paster(crop, base=out)
        return out


def _at_rest(animator: Animator, index: int) -> AnimatedFrame:
    """The source itself, for a frame without a driving subject."""
    kp = animator.kp_source_array
    return AnimatedFrame(index, animator.source_frame, animator.source_frame, kp, kp)


def _renumber(frame: AnimatedFrame, index: int) -> AnimatedFrame:
    frame.index = index
    return frame


def compose_pasted(crops: CropAnimation, frame: CroppedFrame, layout: str = "result") -> np.ndarray:
    """The output frame with paste-back: the pasted result, or photo | driving | result at the photo's
    height (the driving frame scaled to it, its crop outlined)."""
    if layout == "result":
        return frame.image
    height = crops.photo.shape[0]
    driving = frame.driving
    if frame.driving_box is not None:
        driving = _outline(driving, frame.driving_box)
    scale = height / driving.shape[0]
    from PIL import Image

    width = max(2, round(driving.shape[1] * scale))
    driving = np.asarray(Image.fromarray(driving).resize((width, height), Image.Resampling.BILINEAR))
    return np.concatenate([crops.photo, driving, frame.image], axis=1)


def _outline(image: np.ndarray, box: Box) -> np.ndarray:
    image = image.copy()
    height, width = image.shape[:2]
    thick = max(2, round(min(height, width) / 200))
    x0, y0 = int(np.clip(box.x, 0, width - 1)), int(np.clip(box.y, 0, height - 1))
    x1, y1 = int(np.clip(box.right, 1, width)), int(np.clip(box.bottom, 1, height))
    color = (255, 200, 0)
    image[y0 : y0 + thick, x0:x1] = color
    image[max(y1 - thick, 0) : y1, x0:x1] = color
    image[y0:y1, x0 : x0 + thick] = color
    image[y0:y1, max(x1 - thick, 0) : x1] = color
    return image


__all__ = ["CROPS", "CropAnimation", "CroppedFrame", "DrivingCrops", "compose_pasted", "driving_crops", "parse_crop",
           "plan_driving", "source_boxes"]
