"""Cropping jobs on whole inputs: the subjects of a photo, the per-segment clips of a video, and the
record of every frame's box (what ``fomm crop --json`` writes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .box import Box, CropError
from .image import crop_square
from .options import CropOptions
from .subjects import Subject
from .track import CropPlan, Segment


def _box_dict(box: Box) -> dict[str, float]:
    return {"x": round(box.x, 2), "y": round(box.y, 2), "w": round(box.w, 2), "h": round(box.h, 2)}


def image_record(path: str, image: np.ndarray, subjects: Sequence[Subject], outputs: Sequence[str | None],
                 options: CropOptions) -> dict[str, Any]:
    """The JSON record of a cropped photo (one "frame", one entry per subject)."""
    height, width = image.shape[:2]
    return {
        "input": str(path), "width": width, "height": height, "num_frames": 1, "target": options.target,
        "size": options.size,
        "clips": [{"path": out, "subject": i, "start": 0, "end": 1, "crop": _box_dict(s.crop)}
                  for i, (s, out) in enumerate(zip(subjects, outputs, strict=True)) if out is not None],
        "frames": [{"frame": 0, "subject": i, **_box_dict(s.box), "score": round(s.box.score, 3), "detected": True,
                    "crop": _box_dict(s.crop), "clip": i if outputs[i] is not None else None}
                   for i, s in enumerate(subjects)],
    }


def video_record(path: str, plan: CropPlan, fps: float, outputs: dict[int, str]) -> dict[str, Any]:
    """The JSON record of a cropped video: every clip written, and every frame's box of every subject
    (x, y, w, h in pixels of the original frames; ``detected`` False where interpolated), with the
    crop it was cut with and the clip it went to (None: not written, e.g. a segment too short)."""
    height, width = plan.shape
    clip_of = {id(s): i for i, s in enumerate(plan.segments) if i in outputs}
    frames = []
    for segment in plan.segments + plan.skipped:
        for fb in segment.boxes:
            frames.append({"frame": fb.frame, "subject": segment.subject if segment.subject >= 0 else None,
                           **_box_dict(fb.box), "score": round(fb.box.score, 3), "detected": fb.detected,
                           "crop": _box_dict(segment.crop), "clip": clip_of.get(id(segment))})
    frames.sort(key=lambda f: (f["frame"], 1 << 30 if f["subject"] is None else f["subject"]))
    return {
        "input": str(path), "width": width, "height": height, "num_frames": plan.num_frames, "fps": fps,
        "target": plan.options.target, "size": plan.options.size,
        "clips": [{"path": outputs[i], "subject": s.subject, "start": s.start, "end": s.end,
                   "start_time": s.start / fps, "crop": _box_dict(s.crop), "angle": round(s.crop.angle, 2),
                   "cut": s.cut}
                  for i, s in enumerate(plan.segments) if i in outputs],
        "frames": frames,
    }


def write_segment_clips(frames: Iterable[np.ndarray], segments: Sequence[Segment], writers: Sequence, size: int,
                        progress=None) -> int:
    """One pass over ``frames`` writing each segment's crops (``size`` px squares cut with its fixed crop)
    to its writer (anything with ``write``, ``close`` and ``abort``, e.g. :class:`fomm.io.VideoWriter`).
    A writer is closed (published) as its segment ends; on an error every unfinished one is aborted.
    Returns the number of frames read."""
    if len(segments) != len(writers):
        raise ValueError("one writer per segment")
    active = sorted(range(len(segments)), key=lambda k: segments[k].start)
    last = max((s.end for s in segments), default=0)
    count = 0
    try:
        for count, frame in enumerate(frames, 1):
            index = count - 1
            for k in active:
                segment = segments[k]
                if segment.start <= index < segment.end:
                    writers[k].write(crop_square(frame, segment.crop, size))
                    if index == segment.end - 1:
                        writers[k].close()
            if progress is not None:
                progress(1)
            if count >= last:
                break
    except BaseException:
        for writer in writers:  # a published clip stays; an unfinished one is removed
            writer.abort()
        raise
    if any(s.end > count for s in segments):
        for writer in writers:
            writer.abort()
        raise CropError(f"the video ended at frame {count}, before its clips were complete; is it still being "
                        "written?")
    return count


def numbered(path: Path, index: int, suffix: str | None = None) -> Path:
    """``OUT-000.ext`` for ``OUT.ext``: the name of the index-th output."""
    suffix = path.suffix if suffix is None else suffix
    return path.with_name(f"{path.stem}-{index:03d}{suffix}")
