"""Following subjects through a video: per-frame detection, association into tracks, gaps filled by
interpolation, temporal smoothing, and the split into segments with one fixed crop each.

Detection runs on every frame. To keep it cheap, a full-frame detection (which also finds new
subjects) runs every ``full_every`` frames and whenever a track was lost; on the other frames each
open track is searched for near its last box, at a size close to its own. Detections join the open
track whose last box they overlap most; a track ends when its subject stays unseen for more than
``max_gap`` frames, and the frames it missed are filled by linear interpolation. Tracks that follow
one another in time (a subject that jumps or comes back) are chained into one subject.

A subject's frames are split into segments, each cropped with one fixed square so that the
subject's motion inside it is kept as motion (and the relative animation restarts at each). The
crop is planned from the segment's whole track: a still's framing of the subject's median box, grown
(up to ``max_zoom`` times) to hold every box of the segment. A segment ends only where it must: the
subject jumps (a shot change or a move too fast to track: a new track), disappears, or moves further
than the largest crop can hold; each segment records why it ended (``Segment.cut``). The original
crop tool's rule, a cut wherever the box overlaps the segment's first box by less than an IoU
threshold, which cuts a slow drift into many pieces, is kept behind ``iou_threshold``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .box import Box, CropError
from .image import crop_square
from .options import CropOptions
from .smooth import zero_phase

logger = logging.getLogger(__name__)

@dataclass
class FrameBox:
    """A subject's box in one frame: ``detected`` False where it was interpolated over a miss."""

    frame: int
    box: Box
    detected: bool


@dataclass
class Track:
    """One subject followed through consecutive frames (``boxes`` has one entry per frame)."""

    id: int
    boxes: list[FrameBox] = field(default_factory=list)
    appearance: np.ndarray | None = field(default=None, repr=False)  # see :func:`appearance`

    @property
    def start(self) -> int:
        return self.boxes[0].frame

    @property
    def end(self) -> int:
        """One past the last frame."""
        return self.boxes[-1].frame + 1

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def size(self) -> float:
        """The median box area: how large the subject is (tracks are ranked by it)."""
        return float(np.median([b.box.area for b in self.boxes]))


CUTS = {  # why a segment ended (Segment.cut)
    "end": "the video ends",
    "jump": "the subject jumped (a shot change or a move too fast to follow)",
    "lost": "the subject left or was no longer found",
    "moved": "the subject moved further than one crop can hold",
    "iou": "the box overlaps the segment's first box by less than the IoU threshold",
}


@dataclass
class Segment:
    """A run of frames ``start`` .. ``end - 1`` of one subject, cropped with one fixed square ``crop``
    (which may reach past the frame's edges: that part is padded with black when cropping). ``cut``:
    why it ended, a key of :data:`CUTS`."""

    subject: int
    start: int
    end: int
    crop: Box
    boxes: list[FrameBox]
    cut: str = "end"

    def __len__(self) -> int:
        return self.end - self.start


# ------------------------------------------------------------------------------------ tracking
class _Open:
    """A track being built: detected boxes by frame."""

    def __init__(self, track_id: int, frame: int, box: Box):
        self.id = track_id
        self.detections: dict[int, Box] = {frame: box}
        self.rolls: dict[int, float] = {}  # the frames whose tilt was measured (full detections)
        self.looks: list[np.ndarray] = []  # appearance descriptors from full detections
        self.last_frame = frame
        self.last = box


class Tracker:
    """Feed it frames in order with :meth:`update`; :meth:`tracks` gives the finished tracks."""

    def __init__(self, options: CropOptions | None = None):
        self.options = options or CropOptions()
        self._open: list[_Open] = []
        self._closed: list[_Open] = []
        self._next_id = 0
        self.frames = 0
        self.shape: tuple[int, int] | None = None

    def update(self, image: np.ndarray) -> list[Box]:
        """Detect in the next frame and extend the tracks; returns this frame's detections."""
        frame = self.frames
        self.frames += 1
        self.shape = image.shape[:2]
        for track in [t for t in self._open if frame - t.last_frame > self.options.max_gap + 1]:
            self._open.remove(track)
            self._closed.append(track)
        full = not self._open or frame % self.options.full_every == 0
        if full:  # with subjects already followed, the periodic look for new ones skips the profile
            found = self.options.detect(image, thorough=not self._open)  # cascades when a frontal face shows
            found = self.options.level_boxes(image, found)
        else:
            found = self._search_near_tracks(image)
        self._associate(frame, found, full and self.options.level, image if full else None)
        if not full and any(t.last_frame == frame - 1 for t in self._open):
            # a subject seen in the previous frame is not near where it was: it jumped (or left),
            # so look at the whole frame now rather than lose this frame
            found = self.options.level_boxes(image, self.options.detect(image))
            self._associate(frame, [b for b in found if not any(t.last_frame == frame and t.last.iou(b) > 0.3
                                                                for t in self._open)], self.options.level, image)
        return found

    def _search_near_tracks(self, image: np.ndarray) -> list[Box]:
        found: list[Box] = []
        for track in self._open:
            found += detect_near(image, track.last, self.options)
        return found

    def _associate(self, frame: int, found: list[Box], measured: bool = False,
                   image: np.ndarray | None = None) -> int:
        """Greedy matching by IoU (or, for fast motion, center distance within half the box size)."""
        pairs = []
        for i, box in enumerate(found):
            for j, track in enumerate(self._open):
                score = _affinity(track.last, box)
                if score > 0:
                    pairs.append((score, i, j))
        used_boxes, used_tracks = set(), set()
        for _, i, j in sorted(pairs, reverse=True):
            if i in used_boxes or j in used_tracks:
                continue
            used_boxes.add(i)
            used_tracks.add(j)
            track = self._open[j]
            track.detections[frame] = found[i]
            if measured:
                track.rolls[frame] = found[i].angle
            if image is not None:
                track.looks.append(appearance(image, found[i]))
            track.last_frame, track.last = frame, found[i]
        for i, box in enumerate(found):
            if i not in used_boxes:
                self._open.append(_Open(self._next_id, frame, box))
                if measured:
                    self._open[-1].rolls[frame] = box.angle
                if image is not None:
                    self._open[-1].looks.append(appearance(image, box))
                self._next_id += 1
        return len(used_tracks)

    def tracks(self) -> list[Track]:
        """Every track, gaps interpolated and boxes smoothed, in order of their first frame."""
        result = []
        for raw in sorted(self._closed + self._open, key=lambda t: (min(t.detections), t.id)):
            result.append(_finish(raw, self.options.smooth))
        return result


def _affinity(previous: Box, box: Box) -> float:
    iou = previous.iou(box)
    if iou > 0.1:
        return 1.0 + iou
    (px, py), (cx, cy) = previous.center, box.center
    size = max(previous.w, previous.h)
    ratio = box.area / previous.area if previous.area > 0 else 0.0
    if np.hypot(px - cx, py - cy) < 0.5 * size and 0.5 < ratio < 2.0:
        return 1.0 - np.hypot(px - cx, py - cy) / size
    return 0.0


def detect_near(image: np.ndarray, box: Box, options: CropOptions) -> list[Box]:
    """Detections of a subject like ``box`` (size within 0.6 .. 1.6x) near it: the search runs on the
    region around the box, scaled so the subject is about 64 px (faces) or 192 px (people) tall."""
    height, width = image.shape[:2]
    pad = max(box.w, box.h)
    x0, y0 = int(max(box.x - pad, 0)), int(max(box.y - pad, 0))
    x1, y1 = int(min(box.right + pad, width)), int(min(box.bottom + pad, height))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    region = image[y0:y1, x0:x1]
    size = max(box.w, box.h)
    wanted = 64 if options.target == "face" else 192
    scale = min(1.0, wanted / max(box.h, 1.0))
    max_side = max(16, round(max(region.shape[:2]) * scale))
    options_ = {"max_side": max_side}
    if options.target == "face":
        options_.update(min_size=0.6 * size, max_size=1.6 * size, thorough=False)
    found = options.detect(np.ascontiguousarray(region), **options_)
    return [b.moved(x0, y0) for b in found if 0.6 * size <= max(b.w, b.h) <= 1.6 * size]


def _finish(raw: _Open, sigma: float) -> Track:
    """Interpolate the frames a track missed (center, log-size linear) and smooth over time."""
    frames = sorted(raw.detections)
    known = np.array([_params(raw.detections[f]) for f in frames])  # (N, 4): cx, cy, log w, log h
    every = np.arange(frames[0], frames[-1] + 1)
    params = np.stack([np.interp(every, frames, known[:, k]) for k in range(4)], axis=1)
    rolls = sorted(raw.rolls)  # the tilt is interpolated between the frames where it was measured
    angles = np.interp(every, rolls, [raw.rolls[f] for f in rolls]) if rolls else np.zeros(len(every))
    params = np.concatenate([params, angles[:, None]], axis=1)
    params = zero_phase(params, sigma)
    detected = set(frames)
    boxes = []
    look = np.mean(raw.looks, axis=0) if raw.looks else None
    for f, (cx, cy, lw, lh, angle) in zip(every, params, strict=True):
        w, h = float(np.exp(lw)), float(np.exp(lh))
        score = raw.detections[f].score if f in detected else 0.0
        landmarks = raw.detections[f].landmarks if f in detected else None
        box = Box(cx - w / 2, cy - h / 2, w, h, score, landmarks=landmarks, angle=float(angle))
        boxes.append(FrameBox(int(f), box, f in detected))
    return Track(raw.id, boxes, look)


def _params(box: Box) -> tuple[float, float, float, float]:
    cx, cy = box.center
    return cx, cy, float(np.log(max(box.w, 1e-3))), float(np.log(max(box.h, 1e-3)))


def track_video(frames: Iterable[np.ndarray], options: CropOptions | None = None) -> tuple[list[Track], int,
                                                                                           tuple[int, int]]:
    """Run the :class:`Tracker` over ``frames``: (tracks, number of frames, (H, W) of the frames)."""
    tracker = Tracker(options)
    for image in frames:
        tracker.update(image)
    if tracker.shape is None:
        raise CropError("the video has no frames")
    return tracker.tracks(), tracker.frames, tracker.shape


# ------------------------------------------------------------------------------------ subjects
APPEARANCE_SIDE = 12  # px: the face thumbnail that tells subjects apart
SAME_SUBJECT = 0.6  # appearance distance (see :func:`appearance_distance`) below which two tracks may be one face


def appearance(image: np.ndarray, box: Box) -> np.ndarray:
    """A small descriptor of what is inside ``box``: its central part as a 12x12 colour thumbnail, each
    channel standardized (so a change of exposure does not make another face)."""
    from .detect import _cv2

    height, width = image.shape[:2]
    cx, cy = box.center
    half = 0.4 * max(box.w, box.h)
    x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
    x1, y1 = int(min(cx + half, width)), int(min(cy + half, height))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((APPEARANCE_SIDE, APPEARANCE_SIDE, 3), np.float32)
    region = image[y0:y1, x0:x1] if image.ndim == 3 else np.dstack([image[y0:y1, x0:x1]] * 3)
    thumb = _cv2().resize(np.ascontiguousarray(region), (APPEARANCE_SIDE, APPEARANCE_SIDE),
                          interpolation=_cv2().INTER_AREA).astype(np.float32)
    return (thumb - thumb.mean(axis=(0, 1))) / (thumb.std() + 1e-3)


def appearance_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """0 for the same picture, about 1 or more for unrelated ones; 0 when either is unknown."""
    if a is None or b is None:
        return 0.0
    return float(np.mean(np.abs(a - b)))


def chain_tracks(tracks: list[Track]) -> list[list[Track]]:
    """Tracks that follow one another in time joined into subjects (a subject that jumped, or that
    left and came back, is one subject with several tracks), largest subject first.

    A track continues the subject whose last track ended before it starts and that looks most like
    it (the face thumbnails of :func:`appearance`), then ended most recently and of the nearest size:
    faces that leave and come back keep their identity, even at each other's places. A track that
    looks like none of them (``SAME_SUBJECT``) is a new subject; overlapping tracks are different
    subjects."""
    subjects: list[list[Track]] = []
    for track in sorted(tracks, key=lambda t: t.start):
        candidates = [s for s in subjects if s[-1].end <= track.start
                      and appearance_distance(s[-1].appearance, track.appearance) < SAME_SUBJECT]
        if candidates:
            best = min(candidates, key=lambda s: (round(appearance_distance(s[-1].appearance, track.appearance), 1),
                                                  track.start - s[-1].end, abs(np.log(track.size / s[-1].size))))
            best.append(track)
        else:
            subjects.append([track])
    return sorted(subjects, key=lambda s: -float(np.median([b.box.area for t in s for b in t.boxes])))


def split_segments(subject: list[Track], subject_index: int, width: int, height: int,
                   options: CropOptions, num_frames: int | None = None) -> list[Segment]:
    """A subject's frames split where one fixed crop can no longer follow it (see the module's
    docstring), each segment with its crop and the reason it ended."""
    segments: list[Segment] = []
    for k, track in enumerate(subject):
        current: list[FrameBox] = []
        for fb in track.boxes:
            if current and not _holds(current, fb, width, height, options):
                segments.append(_segment(current, subject_index, width, height, options,
                                         "iou" if options.iou_threshold is not None else "moved"))
                current = []
            current.append(fb)
        following = subject[k + 1] if k + 1 < len(subject) else None
        if num_frames is not None and track.end >= num_frames:
            cut = "end"
        else:
            cut = "jump" if following is not None and following.start - track.end <= options.max_gap + 1 else "lost"
        segments.append(_segment(current, subject_index, width, height, options, cut))
    return segments


def _holds(current: list[FrameBox], fb: FrameBox, width: int, height: int, options: CropOptions) -> bool:
    if options.iou_threshold is not None:
        return fb.box.iou(current[0].box) >= options.iou_threshold
    tube = _tube(current).union(fb.box)
    return max(tube.w, tube.h) <= _HOLD * _still_side(current + [fb], options) * options.max_zoom


_HOLD = 0.8  # the subject's boxes may fill this much of the crop's side (the rest is margin)


def _tube(boxes: list[FrameBox]) -> Box:
    tube = boxes[0].box
    for fb in boxes[1:]:
        tube = tube.union(fb.box)
    return tube


def _still_side(boxes: list[FrameBox], options: CropOptions) -> float:
    """The side of a still's crop around the segment's median box."""
    margin, _ = options.framing
    return float(np.median([max(fb.box.w, fb.box.h) for fb in boxes])) * (1 + 2 * margin)


def segment_crop(boxes: list[FrameBox], width: int, height: int, options: CropOptions) -> Box:
    """The one crop of a segment: framed like a still around the median box, grown to hold the tube
    (the union of the boxes) where the subject moves, centred on the tube."""
    tube = _tube(boxes)
    if options.iou_threshold is not None:  # the original tool's crop: the tube, framed
        return options.crop_box(tube, width, height)
    margin, _ = options.framing
    side = min(max(_still_side(boxes, options), max(tube.w, tube.h) / _HOLD), _still_side(boxes, options)
               * options.max_zoom)
    cx, cy = tube.center
    inner = side / (1 + 2 * margin)
    angle = float(np.median([fb.box.angle for fb in boxes]))
    return options.crop_box(Box(cx - inner / 2, cy - inner / 2, inner, inner, tube.score, angle=angle), width, height)


def _segment(boxes: list[FrameBox], subject: int, width: int, height: int, options: CropOptions,
             cut: str) -> Segment:
    return Segment(subject, boxes[0].frame, boxes[-1].frame + 1, segment_crop(boxes, width, height, options),
                   boxes, cut)


@dataclass
class CropPlan:
    """What to crop in a video: every subject's segments (largest subject first) and, per subject,
    every frame's box. Segments shorter than ``options.min_frames`` are in ``skipped``."""

    num_frames: int
    shape: tuple[int, int]
    subjects: list[list[Segment]]
    skipped: list[Segment]
    options: CropOptions

    @property
    def segments(self) -> list[Segment]:
        """Every kept segment, subject by subject, in time order within a subject."""
        return [s for subject in self.subjects for s in subject]

    def frame_crops(self, subject: int = 0) -> list[Box | None]:
        """The crop of every frame for one subject: its segment's crop, or None outside its segments."""
        crops: list[Box | None] = [None] * self.num_frames
        for segment in self.subjects[subject] if subject < len(self.subjects) else ():
            for f in range(segment.start, segment.end):
                crops[f] = segment.crop
        return crops


def plan_crops(frames: Iterable[np.ndarray], options: CropOptions | None = None) -> CropPlan:
    """Detect, track and segment the subjects of a video (one pass over ``frames``)."""
    options = options or CropOptions()
    tracks, count, (height, width) = track_video(frames, options)
    subjects, skipped = [], []
    for index, chain in enumerate(chain_tracks(tracks)):
        segments = split_segments(chain, index, width, height, options, count)
        kept = [s for s in segments if len(s) >= options.min_frames]
        skipped += [s for s in segments if len(s) < options.min_frames]
        if kept:
            subjects.append(kept)
    renumber = {subject[0].subject: i for i, subject in enumerate(subjects)}
    for segment in [s for subject in subjects for s in subject] + skipped:
        segment.subject = renumber.get(segment.subject, -1)  # -1: a subject with no segment kept
    logger.info("%d frames: %d tracks, %d subjects, %d segments kept, %d skipped", count, len(tracks),
                len(subjects), sum(len(s) for s in subjects), len(skipped))
    return CropPlan(count, (height, width), subjects, skipped, options)


def iter_crops(frames: Iterable[np.ndarray], crops: Iterable[Box | None], size: int) -> Iterator[np.ndarray | None]:
    """``crop_square`` of each frame with its box (None for frames without one)."""
    for image, box in zip(frames, crops, strict=False):
        yield None if box is None else crop_square(image, box, size)
