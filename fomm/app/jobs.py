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
from dataclasses import dataclass
from pathlib import Path

import torch

from ..animation import Animator, compose
from ..animation.animator import MODES, AnimationError
from ..api import DEFAULT_MODEL, load_model
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
    # Hook for fomm.crop (face/person crop of real footage and paste-back into the photo): the options
    # go here and into AnimationJob.run once that package is on main.


@dataclass(frozen=True)
class JobProgress:
    """``stage``: "model", "best frame" or "animate"; ``done`` of ``total`` frames (None if unknown)."""

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
        self.result: JobResult | None = None

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
        animator = Animator(model, self.source, mode=self.options.mode, adapt_scale=self.options.adapt_scale)
        total = self.info.num_frames
        start = time.perf_counter()
        initial, best = None, None
        if self.options.best_frame:
            yield JobProgress("best frame", 0, total)  # one keypoints-only pass
            with VideoReader(self.driving_path) as reader:
                found = animator.find_best_frame(reader)
            initial, best = found.keypoints, found.index
        video, overlay = self.workdir / "result.mp4", self.workdir / "overlay.mp4"
        audio = self.driving_path if self.info.has_audio else None
        count = 0
        with VideoReader(self.driving_path) as reader, \
                VideoWriter(video, fps=reader.fps, audio_from=audio, overwrite=True) as video_out, \
                VideoWriter(overlay, fps=reader.fps, overwrite=True) as overlay_out, \
                BackgroundWriter(video_out) as video_bg, BackgroundWriter(overlay_out) as overlay_bg:
            for frame in animator.stream(reader, initial):
                video_bg.write(compose(animator, frame))
                overlay_bg.write(compose(animator, frame, "side-by-side", keypoints=True))
                count += 1
                yield JobProgress("animate", count, total)
        if count == 0:
            raise AnimationError(f"{_user_name(self.driving_path)} has no frames; upload another clip")
        self.result = JobResult(video, overlay, count, reader.fps, time.perf_counter() - start, best)


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
