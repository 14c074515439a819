"""A source *video* animated by a driving video (dubbing, re-enacting a clip): each output frame is the
driving frame of its time animated onto the source frame of the same time, with the motion relative
to the driving's first frame (to each driving segment's first frame when the driving video is
cropped) carried onto that source frame's own keypoints.

The output keeps the driving video's frame rate. It is as long as the shorter clip; with ``loop`` the
source starts again as it ends, so the output is as long as the driving video. Its sound is the
driving video's (``audio_from="driving"``) or the source video's own (``"source"``, played once:
it is not looped), cut at the output's end.

It runs on the one animator: each source frame is prepared (:meth:`Animator.prepare_source`) and
handed with its driving frame to :meth:`Animator.animate_batch` (``source=``). With ``crop="auto"``
the source video is tracked like a driving video (one fixed crop per segment) and, with paste-back,
each result goes back into its own source frame (frames where the source has no subject are kept
as they are). ``smooth`` smooths the driving motion (and the tracked boxes) as for a still source.

    result = animate_video_file(model, "clip.mp4", "driving.mp4", "out.mp4",
                                AnimationOptions(crop="auto", paste_back=True, audio_from="source"))
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..animation import AnimatedFrame, AnimationError, Animator
from ..animation.animator import prepare_input
from ..animation.options import OptionsError
from .animate import Animation, DrivingCrops, Face, driving_crops, plan_driving
from .box import Box
from .image import PasteBack, crop_square, user_box
from .track import CropOptions

UNSUPPORTED = {  # options a source video does not take (yet), and their neutral values
    "best_frame": None, "faces": "largest", "layout": "result", "keypoints": False, "face": None,
}


def check_options(options) -> None:
    """Refuse, in the caller's words, what a source video cannot do."""
    for key, neutral in UNSUPPORTED.items():
        value = getattr(options, key)
        if value != neutral:
            raise OptionsError(lambda w, key=key, value=value: (
                f"{w.name(key) if value is True else w.setting(key, value)} is for a still source; with a source "
                f"video {w.drop(key)}"))


@dataclass
class SourceVideo:
    """The per-frame plan: the source video's crops (None: whole frames, the animator's center
    square) and the driving video's (None: whole frames), whether results are pasted back, and the
    driving motion smoothed beforehand (frame -> motion, batch 1; None: detected frame by frame)."""

    animator: Animator
    source_crops: DrivingCrops | None
    driving_crops: DrivingCrops | None
    paste_back: bool = False
    motion: dict[int, Any] | None = None

    def smooth_driving(self, frames: Iterable[np.ndarray], strength: float) -> None:
        """One keypoints-only pass over the driving ``frames``: their motion smoothed over time without
        delay within each driving segment, as for a still source (:meth:`Animation.smooth_driving`)."""
        animation = Animation(self.animator.source_frame, [Face(self.animator)], self.driving_crops)
        animation.smooth_driving(frames, strength)
        self.motion = animation.motion

    def stream(self, sources: Iterable[tuple[int, np.ndarray]],
               driving: Iterable[np.ndarray]) -> Iterator[AnimatedFrame]:
        """One animated frame per (source frame, driving frame) pair, in order, as long as the shorter of
        the two. ``sources``: (index in the source video, frame) pairs, as :func:`source_frames` gives
        them (the index says which of the source's crops is that frame's)."""
        initial, group, paster = None, None, None
        for index, ((position, source), frame) in enumerate(zip(sources, driving, strict=False)):
            current = self.driving_crops.group(index)[0] if self.driving_crops else 0
            if current != group:  # relative motion starts again at a driving segment
                initial, group = None, current
            animated, initial, paster = self._frame(index, position, source, frame, initial, paster)
            yield animated

    def _frame(self, index: int, position: int, source: np.ndarray, frame: np.ndarray, initial, paster):
        """Driving frame ``index`` animated onto source frame ``position``; returns it with the reference
        motion and the paste-back that the next frame carries on with."""
        animator, size = self.animator, self.animator.size
        box = self.source_crops.box(position) if self.source_crops else None
        driving_box = self.driving_crops.box(index) if self.driving_crops else None
        driving_crop = crop_square(frame, driving_box, size) if driving_box is not None else frame
        (batch,) = animator.frame_batches([driving_crop])
        if self.source_crops and not self.source_crops.is_present(position):  # no subject: the frame as it is
            still, none = source if self.paste_back else prepare_input(source, size, animator.fit), np.zeros((0, 2))
            return (AnimatedFrame(index, still, batch.frames[0], none, none, original=frame, driving_box=driving_box,
                                  present=False), initial, paster)
        prepared = animator.prepare_source(crop_square(source, box, size) if box is not None else source)
        driven = self.driving_crops.is_present(index) if self.driving_crops else True
        if driven:
            motion = self.motion.get(index) if self.motion is not None else None
            animated = animator.animate_batch(batch, initial, source=prepared, motion=motion)
            initial, result = animated.initial, animated.frames[0]
            image, kp_driving, kp_used = result.image, result.kp_driving, result.kp_used
        else:  # no driving subject: the source frame at rest
            kp = prepared.motion.value[0].float().cpu().numpy()
            image, kp_driving, kp_used = prepared.frame, kp, kp
        if self.paste_back and box is not None:
            paster = _paster(source, box, paster)
            image = paster(image)
        return (AnimatedFrame(index, image, batch.frames[0], kp_driving, kp_used, original=frame,
                              driving_box=driving_box, present=driven), initial, paster)


def _paster(frame: np.ndarray, box: Box, previous: PasteBack | None) -> PasteBack:
    """Paste-back into this source frame, carrying the running colour correction within one crop."""
    paster = PasteBack(frame, box)
    if previous is not None and previous.crop_box == paster.crop_box:
        paster.offset = previous.offset
    return paster


def source_frames(path: str | os.PathLike, step: float = 1.0, loop: bool = False,
                  decoder=None) -> Iterator[tuple[int, np.ndarray]]:
    """For each output frame i, the source frame of the same time: number floor(i * step) of the source
    video, ``step`` = source fps / output fps (1: frame for frame; 0.5: each source frame twice). Yields
    (index in the source video, frame). ``loop``: the source starts again each time it ends (forever:
    the driving video bounds it). ``decoder``: see :mod:`fomm.io.codecs` (default: the CPU's)."""
    from ..io import VideoReader
    from ..io.codecs import CPU_DECODING

    output, offset = 0, 0  # the next output frame; the source frames of the passes before this one
    while True:
        count = 0
        with VideoReader(path, decoder=decoder or CPU_DECODING) as reader:
            for count, frame in enumerate(reader, 1):
                while math.floor(output * step + 1e-6) == offset + count - 1:
                    yield count - 1, frame
                    output += 1
        if not loop or count == 0:
            return
        offset += count


def plan_source_video(model, source: str | os.PathLike, driving, options, *, size: int,
                      progress: Callable | None = None, words=None, decoder=None) -> SourceVideo:
    """The animator (set up on the source's first frame) and the crops of both videos (each tracked in
    one pass with ``crop="auto"``). ``words``: the caller's names of the options, in messages.
    ``decoder``: the source video's (:mod:`fomm.io.codecs`; default: the CPU's)."""
    from ..animation.options import API_WORDS
    from ..io import VideoReader
    from ..io.codecs import CPU_DECODING
    from ..pipeline import _counted, _fixes
    from .detect import check_detector

    words = words or API_WORDS
    box_fix = (f"pass {words.setting('crop', 'X,Y,W,H')} to give the source video's box by hand, or "
               f"{words.setting('crop', 'none')}")
    strength = options.smooth_strength()
    crop_options = CropOptions(target=options.target, size=size, margin=options.crop_margin,
                               backend=check_detector(options.detector),
                               **({} if strength is None else {"smooth": strength}))
    with VideoReader(source, decoder=decoder or CPU_DECODING) as reader:
        frames = iter(reader)
        first = next(frames, None)
        frames.close()
        if first is None:
            raise AnimationError(f"{source} has no frames that decode; re-encode it (e.g. to H.264 mp4)")
        source_crops = None
        if options.crop == "auto":
            frames = _counted(reader, "track source", reader.num_frames, progress)
            source_crops = driving_crops(frames, crop_options, str(source), box_fix, kind="source")
        elif isinstance(options.crop, Box):
            source_crops = DrivingCrops.fixed(user_box(options.crop, *reader.size))
    crop = options.driving_crop_or_default
    frames = _counted(driving, "track driving", driving.num_frames, progress) if crop == "auto" else driving
    driving_plan = plan_driving(frames, driving.size, crop, crop_options, str(driving.path), _fixes(words)[1])
    start_box = source_crops.box(0) if source_crops else None
    animator = Animator(model, crop_square(first, start_box, size) if start_box is not None else first, options,
                        size=size)
    plan = SourceVideo(animator, source_crops, driving_plan, options.paste_back and source_crops is not None)
    if strength:  # as for a still source: the driving motion smoothed over time, without delay
        plan.smooth_driving(_counted(driving, "smooth motion", driving.num_frames, progress), strength)
    return plan


def _length(source, driving, loop: bool) -> int | None:
    """The output's frame count when the readers know theirs (progress bars)."""
    if loop or driving.num_frames is None or source.num_frames is None:
        return driving.num_frames
    return min(driving.num_frames, math.ceil(source.num_frames * driving.fps / source.fps - 1e-6))


def animate_video_file(model, source: str | os.PathLike, driving: str | os.PathLike, output: str | os.PathLike,
                       options, *, progress: Callable | None = None, overwrite: bool = False,
                       inputs=(), load: Callable | None = None, words=None, codecs=None):
    """Animate the source video ``source`` with ``driving`` into ``output`` (see the module's docstring);
    returns :class:`fomm.pipeline.AnimationResult`. ``options.audio_from``: whose sound the output
    carries ("driving" or "source"; ``options.audio=False``: none); ``options.loop``: as long as the
    driving video. ``load``: called once the inputs and the output are checked, gives the model.
    ``words``: the caller's names of the options, in messages (:class:`fomm.animation.options.Vocabulary`).
    ``codecs``: where the videos are decoded and encoded (:func:`fomm.io.codecs.select_codecs`; default:
    the CPU)."""
    from ..io import BackgroundWriter, VideoReader, is_image_path
    from ..io.codecs import CPU_CODECS
    from ..pipeline import AnimationResult, Output, Progress, _writer

    check_options(options)
    if is_image_path(driving):
        raise AnimationError(f"{driving} is a still image and {source} a video: were they swapped? The source (a "
                             "photo or a video) comes first, then the driving video or folder of frames")
    codecs = codecs or CPU_CODECS
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(VideoReader(driving, decoder=codecs.decoder))
        own = stack.enter_context(VideoReader(source, decoder=codecs.decoder))
        sound = own if options.audio_from == "source" else reader
        writer = stack.enter_context(_writer(Output(output), options, reader, overwrite, (source, driving, *inputs),
                                             codecs.encoder, sound=sound))
        model = load() if load is not None else model
        size = int(options.size or model.config.frame_size)
        plan = plan_source_video(model, source, reader, options, size=size, progress=progress, words=words,
                                 decoder=codecs.decoder)
        start, count, total = time.perf_counter(), 0, _length(own, reader, options.loop)
        background = stack.enter_context(BackgroundWriter(writer))
        for frame in plan.stream(source_frames(source, own.fps / reader.fps, options.loop, codecs.decoder), reader):
            background.write(frame.image)
            count += 1
            if progress is not None:
                progress(Progress("animate", count, total))
    segments = plan.driving_crops.num_segments if plan.driving_crops is not None else 1
    return AnimationResult(count, time.perf_counter() - start, [Path(output)], reader.truncated, segments=segments)


__all__ = ["SourceVideo", "animate_video_file", "check_options", "plan_source_video", "source_frames"]
