"""What the web app runs, without the web: one animation job from uploaded files to result videos.

Kept free of gradio so that it is tested (and usable) on its own; :mod:`fomm.app.ui` only wires it to
the page. A job is a generator of :class:`JobProgress`, so the page can show progress and cancel it
between two frames: closing the generator stops the animation and discards the half-written videos.

    models = ModelCache({"default": "default"}, device="cpu")
    job = AnimationJob(models, "face.png", "driving.mp4", JobOptions(), workdir)
    for progress in job.run():
        print(progress.stage, progress.done, progress.total)
    job.result.video, job.result.overlay
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import torch

from ..animation import Animator, compose
from ..animation.animator import MODES, AnimationError
from ..api import DEFAULT_MODEL, load_model
from ..crop import TARGETS, CropOptions
from ..crop.animate import CROPS, CropAnimation, plan_driving, source_boxes
from ..errors import FommError
from ..io import BackgroundWriter, VideoReader, VideoWriter, read_image
from ..model import FOMM

logger = logging.getLogger(__name__)

DEFAULT_LABEL = "default (bundled)"


class AppError(FommError, ValueError):
    """A job cannot run with these inputs or options; the message says why and what to change."""


@dataclass(frozen=True)
class JobOptions:
    """The choices the page offers. ``checkpoint``: a label of the app's :class:`ModelCache`."""

    checkpoint: str = DEFAULT_LABEL
    mode: str = "relative"
    adapt_scale: bool = False
    best_frame: bool = False
    crop: str = "none"  # "auto": find the subject (``target``) in the photo and the clip, crop both
    paste_back: bool = False  # put the animated crop back into the full-resolution photo
    target: str = "face"

    @property
    def cropping(self) -> bool:
        return self.crop != "none" or self.paste_back


@dataclass(frozen=True)
class JobProgress:
    """``stage``: "model", "tracking", "best frame" or "animate"; ``done`` of ``total`` frames (None if unknown)."""

    stage: str
    done: int
    total: int | None


@dataclass(frozen=True)
class JobResult:
    """``video``: the animation (with the driving video's audio when it has some); ``overlay``: source |
    driving | result with the keypoints drawn; ``best_frame``: the frame relative motion started from."""

    video: Path
    overlay: Path
    frames: int
    fps: float
    seconds: float
    best_frame: int | None

    def summary(self) -> str:
        start = f"; relative motion from frame {self.best_frame}" if self.best_frame is not None else ""
        speed = self.frames / self.seconds if self.seconds > 0 else float("inf")
        return f"{self.frames} frames at {self.fps:g} fps in {self.seconds:.1f} s ({speed:.1f} fps){start}"


class ModelCache:
    """The checkpoints the app offers, by label, with at most one model in memory: asking for another
    one drops the current one first (a published model takes about 230 MB, and jobs run one at a time).
    """

    def __init__(self, checkpoints: Mapping[str, str | Path], device: torch.device | str | None = None):
        if not checkpoints:
            raise AppError("no checkpoint to offer; give at least one (the bundled model is 'default')")
        self.checkpoints = dict(checkpoints)
        self.device = device
        self._lock = threading.Lock()
        self._label: str | None = None
        self._model: FOMM | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.checkpoints)

    @property
    def loaded(self) -> str | None:
        """The label of the model in memory, if any."""
        return self._label

    def get(self, label: str) -> FOMM:
        if label not in self.checkpoints:
            raise AppError(f"unknown checkpoint {label!r}; choose one of: {', '.join(self.checkpoints)}")
        with self._lock:
            if self._label != label:
                self._model = self._label = None  # drop the old model before loading the new one
                self._model = load_model(self.checkpoints[label], device=self.device)
                self._label = label
            return self._model


def checkpoint_choices(paths: list[str | Path]) -> dict[str, str | Path]:
    """Labels for the checkpoints given on the command line (their file names, made unique), after
    the bundled model. A path that does not exist raises :class:`AppError` now, not at the first job."""
    choices: dict[str, str | Path] = {DEFAULT_LABEL: DEFAULT_MODEL}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise AppError(f"checkpoint {path} does not exist; give the path of a .pth.tar, .pth or "
                           ".safetensors file")
        label, n = path.name, 2
        while label in choices:
            label, n = f"{path.name} ({n})", n + 1
        choices[label] = path
    return choices


def _user_name(path: Path) -> str:
    """An upload's name as the user knows it (gradio keeps it as the last part of the path)."""
    return path.name


def _pictures(stream: Iterator, render) -> Iterator[tuple]:
    """``render(frame)`` for each frame of an animation stream, which is closed when this is."""
    with closing(stream):
        for frame in stream:
            yield render(frame)


SOURCE_FIX = "choose crop: none to animate the whole photo, or upload a photo where the subject is larger"
DRIVING_FIX = "choose crop: none, or upload a clip where the subject is larger"


class AnimationJob:
    """One animation of an uploaded source image by an uploaded driving video.

    The inputs and options are checked on construction (a bad upload fails before any model is
    loaded), and the messages name the uploaded file, not the server's temporary path. ``run`` writes
    ``result.mp4`` and ``overlay.mp4`` into ``workdir``.
    """

    def __init__(self, models: ModelCache, source: str | Path | None, driving: str | Path | None,
                 options: JobOptions, workdir: str | Path):
        if source is None:
            raise AppError("no source image: upload a photo (png, jpg, webp, bmp) or pick an example")
        if driving is None:
            raise AppError("no driving video: upload a clip (mp4, mov, avi, mkv, webm, gif) or pick an example")
        if options.mode not in MODES:
            raise AppError(f"mode must be one of {', '.join(MODES)}, got {options.mode!r}")
        if options.mode == "absolute" and options.adapt_scale:
            raise AppError("adapt scale scales relative motion; it does nothing in absolute mode: untick it "
                           "or choose relative mode")
        if options.mode == "absolute" and options.best_frame:
            raise AppError("best frame picks the start of relative motion; it does nothing in absolute mode: "
                           "untick it or choose relative mode")
        if options.crop not in CROPS:
            raise AppError(f"crop must be one of {', '.join(CROPS)}, got {options.crop!r}")
        if options.target not in TARGETS:
            raise AppError(f"target must be one of {', '.join(TARGETS)}, got {options.target!r}")
        if options.checkpoint not in models.checkpoints:
            raise AppError(f"unknown checkpoint {options.checkpoint!r}; choose one of: "
                           f"{', '.join(models.checkpoints)}")
        self.models = models
        self.options = options
        self.source_path, self.driving_path = Path(source), Path(driving)
        self.workdir = Path(workdir)
        self.source = self._friendly(read_image, self.source_path)
        with self._friendly(VideoReader, self.driving_path) as reader:  # fails now on a bad upload
            self.info = reader.info
        # The photo's crop is found now (a fraction of a second), so "no face found" comes before any work.
        self.boxes = source_boxes(self.source, options.crop, self._crop_options(), fix=SOURCE_FIX) \
            if options.cropping else []
        self.result: JobResult | None = None

    def _crop_options(self, size: int = 256) -> CropOptions:
        return CropOptions(target=self.options.target, size=size)

    def _friendly(self, read, path: Path):
        """``read(path)``, with the server's temporary path replaced by the file's name in errors."""
        try:
            return read(path)
        except FommError as exc:
            message = str(exc).replace(str(path), _user_name(path))
            raise type(exc)(message) from exc

    def run(self) -> Iterator[JobProgress]:
        """Animate, yielding progress after every frame; ``self.result`` is set at the end. Closing the
        generator early (a cancelled job) leaves no output behind."""
        yield JobProgress("model", 0, None)
        model = self.models.get(self.options.checkpoint)
        start = time.perf_counter()
        if self.options.cropping:
            crops = yield from self._crops(model)
            best, reference = yield from self._best_frame(crops)
            frames = _pictures(crops.stream(self._frames(), reference), lambda f: (
                crops.render(f), compose(crops.animators[0], f.faces[0], "side-by-side", keypoints=True)))
        else:
            animator = self._animator(model, self.source)
            best, initial = yield from self._best_frame(animator)
            frames = _pictures(animator.stream(self._frames(), initial), lambda f: (
                compose(animator, f), compose(animator, f, "side-by-side", keypoints=True)))
        count = yield from self._write(frames)
        self.result = JobResult(self.workdir / "result.mp4", self.workdir / "overlay.mp4", count, self.info.fps,
                                time.perf_counter() - start, best)

    def _frames(self) -> Iterator:
        with VideoReader(self.driving_path) as reader:
            yield from reader

    def _animator(self, model: FOMM, source, size: int | None = None) -> Animator:
        return Animator(model, source, mode=self.options.mode, adapt_scale=self.options.adapt_scale, size=size)

    def _best_frame(self, animation: Animator | CropAnimation):
        """With best frame: (frame index, relative motion's reference for ``animation``), from one
        keypoints-only pass over the clip; else (None, None)."""
        if not self.options.best_frame:
            return None, None
        yield JobProgress("best frame", 0, self.info.num_frames)
        with closing(self._frames()) as frames:
            if isinstance(animation, CropAnimation):
                index, _, reference = animation.best_frame(frames)
                return index, reference
            found = animation.find_best_frame(frames)
            return found.index, found.keypoints

    def _crops(self, model: FOMM):
        """The cropped animation: the photo's box(es) found at construction, the clip's subject tracked."""
        size = model.config.frame_size
        driving = None
        if self.options.crop == "auto":
            yield JobProgress("tracking", 0, self.info.num_frames)  # one detection pass over the clip
            with closing(self._frames()) as frames:
                driving = plan_driving(frames, self.info.size, "auto", self._crop_options(size),
                                       _user_name(self.driving_path), DRIVING_FIX)
        return CropAnimation.prepare(lambda crop: self._animator(model, crop, size), self.source, self.boxes,
                                     driving, size, paste_back=self.options.paste_back)

    def _write(self, frames: Iterator[tuple]) -> Iterator[JobProgress]:
        """Encode (result, overlay) picture pairs into result.mp4 (with the clip's audio) and overlay.mp4;
        returns the frame count. The frame source is closed however this ends (done, error, cancel)."""
        video, overlay = self.workdir / "result.mp4", self.workdir / "overlay.mp4"
        audio = self.driving_path if self.info.has_audio else None
        count, total = 0, self.info.num_frames
        with closing(frames), \
                VideoWriter(video, fps=self.info.fps, audio_from=audio, overwrite=True) as video_out, \
                VideoWriter(overlay, fps=self.info.fps, overwrite=True) as overlay_out, \
                BackgroundWriter(video_out) as video_bg, BackgroundWriter(overlay_out) as overlay_bg:
            for picture, keypoints in frames:
                video_bg.write(picture)
                overlay_bg.write(keypoints)
                count += 1
                yield JobProgress("animate", count, total)
            if count == 0:
                raise AnimationError(f"{_user_name(self.driving_path)} has no frames; upload another clip")
        return count


class WorkFolder:
    """The app's temporary folder: one subfolder per job, the oldest removed when there are more than
    ``keep``, everything removed by :meth:`cleanup` (on shutdown)."""

    def __init__(self, root: str | Path | None = None, keep: int = 16):
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="fomm-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._lock = threading.Lock()
        self._count = 0

    def new_job(self) -> Path:
        with self._lock:
            jobs = sorted(self.root.glob("job-*"))  # numbered in order of creation
            for old in jobs[: max(0, len(jobs) - self.keep + 1)]:
                shutil.rmtree(old, ignore_errors=True)
            self._count += 1
            return Path(tempfile.mkdtemp(prefix=f"job-{self._count:08d}-", dir=self.root))

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
