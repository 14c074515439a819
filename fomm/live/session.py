"""The live loop: take the newest camera frame, animate it with the streaming :class:`Animator`, send
the result to an output, apply the user's commands; report fps, latency and dropped frames.

Commands (keys in a window, lines on a terminal, or a schedule for scripts and tests):
``x`` recalibrate (the next frame becomes the neutral pose of relative motion, as Avatarify's "x"),
``n`` next source image, ``o`` toggle the overlay (camera frame and keypoints over the result),
``q`` quit.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..animation import Animator
from ..animation.animator import AnimatedFrame, AnimationError, keypoints_to_pixels
from ..animation.options import AnimationOptions
from ..crop.smooth import MotionFilter
from ..io import draw_keypoints
from .capture import Camera, CapturedFrame
from .commands import COMMANDS, NEXT_SOURCE, OVERLAY, QUIT, RECALIBRATE, check_command

logger = logging.getLogger(__name__)



def overlay(animator: Animator, frame: AnimatedFrame) -> np.ndarray:
    """The result with the driving frame blended over it and the driving keypoints drawn: what a user
    lines their face up with (same size as the result, so outputs keep their size)."""
    blended = (frame.image.astype(np.uint16) + frame.driving) // 2
    size = animator.size
    return draw_keypoints(blended.astype(np.uint8), keypoints_to_pixels(frame.kp_driving, (size, size), size))


class LiveAnimator:
    """Animates camera frames one at a time with one of several source images.

    In relative mode the neutral pose is the first frame's, until :meth:`recalibrate` makes it the next
    frame's: the source then shows its own pose for that frame, and moves as the camera moves from there.
    Each frame goes straight to :meth:`Animator.animate_batch` in the calling thread: no thread is
    started per frame. ``options``: as for every animation (the batch size is one frame); keyword
    arguments override single options. The camera's motion is steadied by a causal One Euro filter
    when ``options.smooth`` asks for it (``fomm live`` does by default; :class:`fomm.crop.smooth.MotionFilter`).

    ``options.crop="auto"``: each source is cropped around its face, and the camera frames around the
    face found at calibration (the first frame with a face, and each :meth:`recalibrate`), framed as a
    still is (:mod:`fomm.crop`). That crop stays fixed until the next calibration, as one segment of a
    file keeps one crop, so head motion inside it stays motion; until a face shows, whole frames go in.
    """

    def __init__(self, model, sources: Sequence[np.ndarray | str | os.PathLike],
                 options: AnimationOptions | None = None, **overrides):
        if not sources:
            raise AnimationError("give at least one source image")
        self.model, self.sources = model, list(sources)
        self.options = (options or AnimationOptions()).replace(**overrides, batch_size=1)
        self._animators: dict[int, Animator] = {}
        self.source_index = 0
        self.show_overlay = False
        self.reference = None  # the neutral pose (relative mode)
        self._calibrate = True
        strength = self.options.smooth_strength()
        self._steady = MotionFilter(strength) if strength else None  # One Euro on the camera's motion
        self._crop_options = self._cropping() if self.options.crop == "auto" else None
        self._box = None  # the camera frames' crop, found at calibration (crop="auto")
        self._find = self._crop_options is not None  # look for the face in the next frame
        self.animator  # noqa: B018 (encode the first source now, so bad options fail before the camera starts)

    def _cropping(self):
        from ..crop import CropOptions
        from ..crop.detect import check_detector

        return CropOptions(target=self.options.target, size=self._frame_size(), margin=self.options.crop_margin,
                           backend=check_detector(self.options.detector))

    def _frame_size(self) -> int:
        return int(self.options.size or self.model.config.frame_size)

    @property
    def animator(self) -> Animator:
        """The animator of the current source (each source is encoded once, when first shown)."""
        if self.source_index not in self._animators:
            source = self.sources[self.source_index]
            if self._crop_options is not None:
                source = self._source_crop(source)
            self._animators[self.source_index] = Animator(self.model, source, self.options)
        return self._animators[self.source_index]

    def _source_crop(self, source) -> np.ndarray:
        """A source image cut around its face (crop="auto")."""
        from ..crop import crop_square
        from ..crop.animate import source_boxes
        from ..io import read_image

        photo = source if isinstance(source, np.ndarray) else read_image(source)
        (box,) = source_boxes(photo, "auto", self._crop_options, fit=self.options.fit, face=self.options.face,
                              fix="give a photo where the face is larger, or leave the crop off (--crop none)")
        return crop_square(photo, box, self._frame_size())

    def _camera_crop(self, image: np.ndarray) -> np.ndarray:
        """The camera frame cut by the crop found at calibration (crop="auto"); a calibration that finds a
        face fixes a new crop and makes this frame the neutral pose."""
        from ..crop import NoSubjectError, crop_square
        from ..crop.subjects import image_subjects

        if self._find:
            try:
                self._box = image_subjects(image, self._crop_options, "the camera frame")[0].crop
                self._find, self._calibrate = False, True
                logger.info("live crop: %s", self._box.describe())
            except NoSubjectError:
                pass  # look again in the next frame; meanwhile the last crop (or the whole frame)
        return image if self._box is None else crop_square(image, self._box, self._frame_size())

    @property
    def size(self) -> int:
        return self.animator.size

    def recalibrate(self) -> None:
        """The next frame becomes the neutral pose (relative mode; no effect in absolute mode); with
        crop="auto", the camera's crop is found again in it."""
        self._calibrate = True
        self._find = self._crop_options is not None

    def next_source(self) -> None:
        self.source_index = (self.source_index + 1) % len(self.sources)
        if self._steady is not None:
            self._steady.reset()

    def toggle_overlay(self) -> None:
        self.show_overlay = not self.show_overlay

    def animate(self, image: np.ndarray) -> tuple[np.ndarray, AnimatedFrame]:
        """One camera frame -> (the output image, the animator's frame)."""
        animator = self.animator
        if self._crop_options is not None:
            image = self._camera_crop(image)
        (batch,) = animator.frame_batches([image])
        motion = None if self._steady is None else self._steady(animator.driving_motion(batch))
        animated = animator.animate_batch(batch, None if self._calibrate else self.reference, motion=motion)
        self.reference, self._calibrate = animated.initial, False  # relative mode: the neutral pose from here on
        frame = animated.frames[0]
        return (overlay(animator, frame) if self.show_overlay else frame.image), frame


@dataclass
class LiveStats:
    """What a live run achieved. ``latencies``: seconds from a frame's arrival to its result being
    handed to the output, for every animated frame."""

    captured: int = 0
    animated: int = 0
    dropped: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    commands: list[tuple[int, str]] = field(default_factory=list)  # (frame index, command) as applied

    @property
    def fps(self) -> float:
        return self.animated / self.seconds if self.seconds > 0 else 0.0

    def latency(self, q: float) -> float:
        return float(np.quantile(self.latencies, q)) if self.latencies else float("nan")

    def summary(self) -> str:
        dropped = f"{self.dropped} dropped" + (" (the model is slower than the camera)" if self.dropped else "")
        return (f"{self.animated} of {self.captured} camera frames animated, {dropped}; {self.fps:.1f} fps; "
                f"latency {1000 * self.latency(0.5):.0f} ms median, {1000 * self.latency(0.95):.0f} ms p95")


class Output:
    """Where results go. ``open`` is called with the first result's (width, height) and the camera's
    fps; ``send`` gets every result with the frame it came from and returns the keys pressed since."""

    def open(self, size: tuple[int, int], fps: float) -> None:
        pass

    def send(self, image: np.ndarray, captured: CapturedFrame) -> Iterable[str]:
        return ()

    def close(self, completed: bool) -> None:
        pass


class LiveSession:
    """Runs ``live`` on ``camera`` into ``output`` until the input ends or ``q``.

    Commands come from :meth:`send` (any thread: a terminal reader, a window's keys) and from
    ``schedule`` (frame index -> commands, applied when the first frame at or past that index is
    taken: for scripts and tests). ``on_frame`` is called after every animated frame with the stats.
    """

    def __init__(self, live: LiveAnimator, camera: Camera, output: Output,
                 schedule: Mapping[int, Sequence[str]] | None = None,
                 on_frame: Callable[[LiveStats], None] | None = None):
        self.live, self.camera, self.output = live, camera, output
        self.schedule = sorted((index, command) for index, commands in (schedule or {}).items()
                               for command in commands)
        for _, command in self.schedule:
            check_command(command)
        self.on_frame = on_frame
        self.stats = LiveStats()
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._quit = False

    def send(self, command: str) -> None:
        """Queue a command (``x``, ``n``, ``o``, ``q``); thread-safe."""
        self._commands.put(check_command(command))

    def _apply(self, command: str, index: int) -> None:
        self.stats.commands.append((index, command))
        logger.info("frame %d: %s", index, COMMANDS[command])
        if command == RECALIBRATE:
            self.live.recalibrate()
        elif command == NEXT_SOURCE:
            self.live.next_source()
        elif command == OVERLAY:
            self.live.toggle_overlay()
        elif command == QUIT:
            self._quit = True

    def run(self) -> LiveStats:
        """Run to the end of the input, ``q`` or Ctrl-C (all three end cleanly: the output is complete)."""
        stats, frames = self.stats, self.camera.frames
        opened = completed = False
        start = None
        self.camera.start()
        try:
            while not self._quit:
                captured = frames.take(timeout=0.1)
                self._drain(captured.index if captured else stats.captured)
                if captured is None:
                    if frames.closed:
                        break
                    continue
                while self.schedule and self.schedule[0][0] <= captured.index:
                    self._apply(self.schedule.pop(0)[1], captured.index)
                if self._quit:
                    break
                image, _ = self.live.animate(captured.image)
                if not opened:
                    self.output.open((image.shape[1], image.shape[0]), self.camera.source.fps)
                    opened, start = True, captured.time
                for key in self.output.send(image, captured):
                    if key in COMMANDS:
                        self.send(key)
                stats.latencies.append(time.perf_counter() - captured.time)
                stats.animated += 1
                stats.seconds = time.perf_counter() - start
                stats.captured, stats.dropped = self.camera.captured, frames.dropped
                if self.on_frame is not None:
                    self.on_frame(stats)
            completed = True
        except KeyboardInterrupt:
            completed = True  # Ctrl-C is how a camera session ends
        finally:
            self.camera.stop()
            stats.captured, stats.dropped = self.camera.captured, frames.dropped
            if opened:
                self.output.close(completed)
        return stats

    def _drain(self, index: int) -> None:
        while True:
            try:
                self._apply(self._commands.get_nowait(), index)
            except queue.Empty:
                return


