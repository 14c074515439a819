"""The animation stream, cropped or not: the source photo's subject(s) and the driving video's subject
are cropped like the training data, animated by the one :class:`~fomm.animation.Animator`, and the
results optionally pasted back into the full-resolution photo. Everything here is a transform on frame
streams around the animator's batch method; a plain animation is the uncropped case of the same code.
:func:`fomm.pipeline.plan_animation` builds an :class:`Animation` from a photo, a driving video and the
options:

    animation = plan_animation(model, photo, "driving.mp4", AnimationOptions(crop="auto", paste_back=True))
    with VideoReader("driving.mp4") as reader:
        for frame in animation.stream(reader):   # the driving video, read once more
            writer.write(animation.render(frame))  # the photo's size, the face(s) animated

The driving crop is fixed within each segment of the driving video (see :mod:`fomm.crop.track`), so
head translation inside it stays motion; at each segment start the relative motion starts again from
that segment's first frame. Frames where the driving subject is missing reuse the segment's reference
frame: the animated face rests in the source's pose instead of following noise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..animation import AnimatedFrame, Animator, BestFrame, compose
from ..io.streaming import prefetch
from .box import Box, CropError
from .image import PasteBack, crop_square, user_box
from .options import CropOptions
from .subjects import NoSubjectError, image_subjects, no_subject_message
from .track import CropPlan, plan_crops

logger = logging.getLogger(__name__)

CROPS = ("auto", "none")  # or a Box


def parse_crop(text: str) -> str | Box:
    """``--crop`` values: ``"auto"``, ``"none"`` or ``X,Y,W,H`` (a :class:`Box`)."""
    from .box import parse_box

    return text if text in CROPS else parse_box(text)


CLI_SOURCE_FIX = "pass --crop X,Y,W,H to give its box by hand, or --crop none to use the whole photo"
CLI_DRIVING_FIX = "pass --crop X,Y,W,H to give the driving crop by hand, or --crop none"


def source_boxes(photo: np.ndarray, crop: str | Box, options: CropOptions, faces: str = "largest", *,
                 fit: str = "crop", fix: str = CLI_SOURCE_FIX, face: int | None = None) -> list[Box]:
    """The square crop(s) of the source photo: the largest subject, or every one (``faces="all"``), or
    the ``face``-th by size, the box given by hand, or for ``crop="none"`` the square the animator would
    take by itself (the center square, or the padded square with ``fit="pad"``). :class:`NoSubjectError`
    (its message ending with ``fix``) says how to go on when nothing is found."""
    height, width = photo.shape[:2]
    if isinstance(crop, Box):
        return [user_box(crop, width, height)]
    if crop == "none":
        side = min(height, width) if fit == "crop" else max(height, width)
        return [Box((width - side) // 2, (height - side) // 2, side, side)]
    subjects = image_subjects(photo, options, "the source photo", fix)
    if face is not None:
        if face >= len(subjects):
            raise CropError(f"face {face}: the source photo has {len(subjects)} {options.target}"
                            f"{'s' if len(subjects) != 1 else ''} (0 to {len(subjects) - 1}, largest first; "
                            "fomm crop PHOTO --list shows them)")
        return [subjects[face].crop]
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
    def from_plan(cls, plan: CropPlan, what: str = "the driving video", fix: str = CLI_DRIVING_FIX,
                  kind: str = "driving") -> DrivingCrops:
        if not plan.subjects:
            raise NoSubjectError(no_subject_message(
                f"any of the {plan.num_frames} {kind} frames of {what}", plan.options.target, fix))
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
                  fix: str = CLI_DRIVING_FIX, kind: str = "driving") -> DrivingCrops:
    """Track the driving video's (or a source video's: ``kind="source"``) main subject (one pass) and fix
    one crop per segment."""
    return DrivingCrops.from_plan(plan_crops(frames, options), what, fix, kind)


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
class Face:
    """One animated subject: the animator of its crop of the photo (``box``; None: the animator's own
    center square of the whole photo) and, with paste-back, what puts its result back."""

    animator: Animator
    box: Box | None = None
    paster: PasteBack | None = None


@dataclass
class Animation:
    """The one animation stream: the face(s) of a photo driven by a driving video, cropped or not,
    pasted back or not. A plain animation is the case of one face without a box, no driving crop and
    no paste-back; cropping the driving frames, several faces and paste-back are transforms of the
    same stream around the same :meth:`Animator.animate_batch`.

    ``driving``: the crops of the driving frames (None: frames go in as they are, with the animator's
    own center crop). ``keypoints``: draw keypoints on the results. Frames where the driving subject is
    missing show the source at rest (with paste-back, the photo itself).
    """

    photo: np.ndarray
    faces: list[Face]
    driving: DrivingCrops | None = None
    keypoints: bool = False
    chunk: int = 0
    motion: dict[int, Any] | None = None  # frame -> its driving motion (batch 1), when smoothed beforehand

    @classmethod
    def plain(cls, animator: Animator, keypoints: bool = False) -> Animation:
        """The whole photo (the animator's source) animated by whole driving frames."""
        return cls(animator.source_frame, [Face(animator)], None, keypoints)

    @classmethod
    def prepare(cls, make_animator: Callable[[np.ndarray], Animator], photo: np.ndarray, boxes: Sequence[Box],
                driving: DrivingCrops | None, size: int, *, paste_back: bool = False, keypoints: bool = False,
                feather: float = 0.12) -> Animation:
        """``make_animator(source_crop)`` builds an animator for one face crop of ``size`` px (the model and
        options chosen by the caller, at that size); one is made per box."""
        if not boxes:
            raise CropError("no source box to animate")
        if len(boxes) > 1 and not paste_back:
            raise CropError("animating several faces needs paste-back (there is one picture to put them in); "
                            "add --paste-back or drop --faces all")
        faces = [Face(make_animator(crop_square(photo, box, size)), box,
                      PasteBack(photo, box, feather=feather) if paste_back else None) for box in boxes]
        return cls(photo, faces, driving, keypoints)

    @property
    def animators(self) -> list[Animator]:
        return [face.animator for face in self.faces]

    @property
    def pasting(self) -> bool:
        return self.faces[0].paster is not None

    @property
    def size(self) -> int:
        return self.faces[0].animator.size

    @property
    def batch_size(self) -> int:
        return self.faces[0].animator.batch_size

    def crop_driving(self, frame: np.ndarray, index: int) -> np.ndarray:
        if self.driving is None:
            return frame
        return crop_square(frame, self.driving.box(index), self.size)

    def group(self, index: int) -> tuple[int, int, int]:
        """(start, end, reference frame) of the run of frames that shares one crop and one reference."""
        return self.driving.group(index) if self.driving else (0, 1 << 62, 0)

    # -------------------------------------------------------------------------- best frame
    def best_frame(self, frames: Iterable[np.ndarray], index: int | None = None) -> BestFrame:
        """Relative motion's reference from a best frame of the (full, as read) driving ``frames``: the
        one whose (cropped) pose best matches the first face's source (``index`` None), or frame
        ``index``. It applies to the group (segment) holding that frame (``BestFrame.group``)."""
        animator = self.faces[0].animator
        cropped = (self.crop_driving(frame, i) for i, frame in enumerate(frames)) if self.driving else frames
        if index is None:
            best = animator.find_best_frame(cropped)
        else:
            best = BestFrame(index, None, animator.keypoints_at(cropped, index), index + 1)
        best.group = self.group(best.index)[0]
        return best

    # ------------------------------------------------------------------------- smoothing
    def smooth_driving(self, frames: Iterable[np.ndarray], strength: float) -> None:
        """One keypoints-only pass over the (full, as read) driving ``frames``: every present frame's
        motion, smoothed over time without delay within each run of frames that shares one crop (never
        across a cut), kept for :meth:`stream` (see :func:`fomm.crop.smooth.smooth_motion`)."""
        from .smooth import smooth_motion

        animator = self.faces[0].animator
        runs: dict[int, tuple[list[int], list]] = {}
        pending: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            for batch in animator.frame_batches([crop for _, crop in pending]):
                motion = animator.driving_motion(batch)
                for k in range(len(batch.frames)):
                    index = pending[batch.start + k][0]
                    indices, motions = runs.setdefault(self.group(index)[0], ([], []))
                    indices.append(index)
                    motions.append(motion[k : k + 1])
            pending.clear()

        for index, frame in enumerate(frames):
            if self.driving is None or self.driving.is_present(index):
                pending.append((index, self.crop_driving(frame, index)))
            if len(pending) >= 2 * animator.batch_size:
                flush()
        flush()
        self.motion = {}
        for indices, motions in runs.values():
            smoothed = smooth_motion(type(motions[0]).cat(motions), strength)
            self.motion.update({index: smoothed[k : k + 1] for k, index in enumerate(indices)})

    # ------------------------------------------------------------------------------ stream
    def stream(self, frames: Iterable[np.ndarray], reference: BestFrame | None = None) -> Iterator[AnimatedFrame]:
        """Animate every driving frame (full frames, as read), in order. ``reference``: relative mode's
        initial keypoints for the group holding it (e.g. from :meth:`best_frame`); a group without one
        starts from its reference frame (the segment's first, or the clip's first frame).

        Decoding, cropping and resizing run in a background thread ahead of the networks."""
        references = {reference.group: reference.keypoints} if reference is not None else {}
        with closing(prefetch(self._chunks(frames), name="fomm-decode")) as chunks:
            for chunk in chunks:
                yield from self._animate(chunk, references)

    def _chunks(self, frames: Iterable[np.ndarray]) -> Iterator[_Chunk]:
        """Runs of consecutive frames of one group (at most two batches long), the present ones cropped
        and resized in batches."""
        chunk_size = self.chunk or 2 * self.batch_size
        pending: list[tuple[int, np.ndarray, np.ndarray | None]] = []  # (index, frame, crop or None: absent)
        group = None
        for index, frame in enumerate(frames):
            current = self.group(index)
            if current != group and pending:
                yield self._chunk(group, pending)
                pending = []
            group = current
            present = self.driving.is_present(index) if self.driving else True
            pending.append((index, frame, self.crop_driving(frame, index) if present else None))
            if len(pending) >= chunk_size:
                yield self._chunk(group, pending)
                pending = []
        if pending:
            yield self._chunk(group, pending)

    def _chunk(self, group: tuple[int, int, int], pending: list) -> _Chunk:
        fed = [crop for _, _, crop in pending if crop is not None]
        batches = list(self.faces[0].animator.frame_batches(fed)) if fed else []
        motions = [None] * len(batches)
        if self.motion is not None:
            indices = [index for index, _, crop in pending if crop is not None]
            motions = [_cat([self.motion[i] for i in indices[b.start : b.start + len(b.frames)]]) for b in batches]
        return _Chunk(group, pending, batches, motions)

    def _animate(self, chunk: _Chunk, references: dict) -> Iterator[AnimatedFrame]:
        per_face = []
        for face in self.faces:
            results: list[AnimatedFrame] = []
            initial = references.get(chunk.group[0])
            for batch, motion in zip(chunk.batches, chunk.motions, strict=True):
                animated = face.animator.animate_batch(batch, initial, motion=motion)
                initial = animated.initial
                results.extend(animated.frames)
            if face is self.faces[0] and chunk.batches:
                references[chunk.group[0]] = initial  # the group's later chunks go on from the same reference
            per_face.append(iter(results))
        for index, frame, crop in chunk.items:
            if crop is None:
                faces = [_at_rest(face.animator, index) for face in self.faces]
            else:
                faces = [_renumber(next(results), index) for results in per_face]
            image = self.photo.copy() if crop is None and self.pasting else self._image(faces)
            first = faces[0]
            yield AnimatedFrame(index, image, first.driving, first.kp_driving, first.kp_used, original=frame,
                                driving_box=self.driving.box(index) if self.driving else None,
                                present=crop is not None, faces=faces)

    def _image(self, faces: list[AnimatedFrame]) -> np.ndarray:
        """The output picture: each face's result (keypoints drawn if asked), pasted into the photo."""
        if not self.pasting:
            return faces[0].image
        out = self.photo
        for face, frame in zip(self.faces, faces, strict=True):
            out = face.paster(compose(face.animator, frame, "result", self.keypoints), base=out)
        return out

    # ------------------------------------------------------------------------------ render
    def render(self, frame: AnimatedFrame, layout: str = "result") -> np.ndarray:
        """The output picture of ``frame`` in ``layout``: with paste-back the pasted photo (or photo |
        driving | result at the photo's height), else the first face's result (or source | driving |
        result), with keypoints when asked."""
        if not self.pasting:
            return compose(self.faces[0].animator, frame.faces[0] if frame.faces else frame, layout, self.keypoints)
        if layout == "result":
            return frame.image
        height = self.photo.shape[0]
        driving = frame.original if frame.original is not None else frame.driving
        if frame.driving_box is not None:
            driving = _outline(driving, frame.driving_box)
        from PIL import Image

        width = max(2, round(driving.shape[1] * height / driving.shape[0]))
        driving = np.asarray(Image.fromarray(driving).resize((width, height), Image.Resampling.BILINEAR))
        return np.concatenate([self.photo, driving, frame.image], axis=1)


@dataclass
class _Chunk:
    group: tuple[int, int, int]
    items: list[tuple[int, np.ndarray, np.ndarray | None]]
    batches: list
    motions: list  # each batch's driving motion when smoothed beforehand, else None


def _cat(motions: list):
    return type(motions[0]).cat(motions)


def _at_rest(animator: Animator, index: int) -> AnimatedFrame:
    """The source itself, for a frame without a driving subject."""
    kp = animator.kp_source_array
    return AnimatedFrame(index, animator.source_frame, animator.source_frame, kp, kp)


def _renumber(frame: AnimatedFrame, index: int) -> AnimatedFrame:
    frame.index = index
    return frame


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


__all__ = ["CROPS", "Animation", "DrivingCrops", "Face", "driving_crops", "parse_crop", "plan_driving", "source_boxes"]
