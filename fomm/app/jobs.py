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
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

try:
    import fcntl
except ModuleNotFoundError:  # pragma: no cover (Windows)
    fcntl = None

from ..animation.options import APP_WORDS, CROPS, AnimationOptions, OptionsError
from ..api import DEFAULT_MODEL, load_model, resolve_model
from ..checkpoints import peek_checkpoint
from ..errors import FommError
from ..families import get_family, read_config
from ..io import VideoReader, read_image
from ..model import FOMM
from ..pipeline import Output, Progress, animate_file

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

    def animation_options(self) -> AnimationOptions:
        """The page's choices as the library's options (checked there, worded in the page's terms)."""
        if self.crop not in CROPS:  # the page offers none and auto; a box is the command line's
            raise AppError(f"crop must be one of {', '.join(CROPS)}, got {self.crop!r}")
        try:
            return AnimationOptions(mode=self.mode, adapt_scale=self.adapt_scale or None,
                                    best_frame="auto" if self.best_frame else None, crop=self.crop,
                                    paste_back=self.paste_back, target=self.target)
        except OptionsError as exc:
            raise AppError(exc.worded(APP_WORDS)) from None


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


@dataclass(frozen=True)
class ModelChoice:
    """A checkpoint the page offers: its label, the family of its networks and the modes they animate in
    (``avd`` only with an AVD network), the first offered being the family's published demo's."""

    label: str
    family: str
    modes: tuple[str, ...]

    @property
    def title(self) -> str:
        """What the checkpoint list shows: ``vox.pth.tar (tpsmm: relative, absolute, avd)``."""
        return f"{self.label} ({self.family}: {', '.join(self.modes)})"

    @property
    def default_mode(self) -> str:
        return self.modes[0]


def model_choice(label: str, checkpoint: str | Path) -> ModelChoice:
    """The family and modes of ``checkpoint`` (a file, ``default`` or a preset name), from its keys alone:
    the weights are not read (:func:`fomm.checkpoints.peek_checkpoint`)."""
    source = resolve_model(checkpoint)
    if source.path is not None:
        ckpt = peek_checkpoint(source.path)
        family, networks = get_family(ckpt.family), list(ckpt.state_dicts)
    else:
        family = read_config(source.preset)[0]
        networks = family.inference_networks()
    modes = family.available_modes(networks)
    first = family.default_mode if family.default_mode in modes else modes[0]
    return ModelChoice(label, family.name, (first, *(m for m in modes if m != first)))


class ModelCache:
    """The checkpoints the app offers, by label, with at most one model in memory: asking for another
    one drops the current one first (a published model takes about 230 MB, and jobs run one at a time).
    ``choices``: each label's family and modes, read from the files' keys on construction (so a file that
    is not a checkpoint fails at startup).
    """

    def __init__(self, checkpoints: Mapping[str, str | Path], device: torch.device | str | None = None,
                 precision: str = "fp32"):
        if not checkpoints:
            raise AppError("no checkpoint to offer; give at least one (the bundled model is 'default')")
        self.checkpoints = dict(checkpoints)
        self.choices = {label: model_choice(label, path) for label, path in self.checkpoints.items()}
        self.device = device
        self.precision = precision  # the arithmetic every job runs in (fomm.precision)
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

    def check_mode(self, label: str, mode: str) -> None:
        """Refuse a mode the checkpoint ``label`` cannot animate in, naming those it can."""
        choice = self.choices[label]
        if mode not in choice.modes:
            raise AppError(f"{label} ({choice.family}) animates in modes {', '.join(choice.modes)}, not {mode!r}: "
                           f"choose one of those")


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


STAGES = {"track driving": "tracking"}  # the library's stage names -> the page's


class _Cancelled(Exception):
    """Raised in the animation's progress callback when the page cancelled the job."""


class AnimationJob:
    """One animation of an uploaded source image by an uploaded driving video.

    The inputs and options are checked on construction (a bad upload fails before any model is
    loaded), and the messages name the uploaded file, not the server's temporary path. ``run`` writes
    ``result.mp4`` and ``overlay.mp4`` into ``workdir`` through :func:`fomm.pipeline.animate_file`.
    """

    def __init__(self, models: ModelCache, source: str | Path | None, driving: str | Path | None,
                 options: JobOptions, workdir: str | Path):
        if source is None:
            raise AppError("no source image: upload a photo (png, jpg, webp, bmp) or pick an example")
        if driving is None:
            raise AppError("no driving video: upload a clip (mp4, mov, avi, mkv, webm, gif) or pick an example")
        self.animation = options.animation_options().replace(precision=models.precision)
        if options.checkpoint not in models.checkpoints:
            raise AppError(f"unknown checkpoint {options.checkpoint!r}; choose one of: "
                           f"{', '.join(models.checkpoints)}")
        models.check_mode(options.checkpoint, options.mode)
        self.models = models
        self.options = options
        self.source_path, self.driving_path = Path(source), Path(driving)
        for path, what, kind in ((self.source_path, "source image", "an image"),
                                 (self.driving_path, "driving video", "a video")):
            if path.is_dir():  # a request may name a folder of the upload cache; fomm animate's frame folders
                raise AppError(f"the {what} {_user_name(path)} is a folder; upload {kind} file")
        self.workdir = Path(workdir)
        self.source = self._friendly(read_image, self.source_path)
        with self._friendly(VideoReader, self.driving_path) as reader:  # fails now on a bad upload
            self.info = reader.info
        # The photo's crop is found now (a fraction of a second), so "no face found" comes before any work.
        self.boxes = self._source_boxes() if options.cropping else None
        self.result: JobResult | None = None

    def _source_boxes(self) -> list:
        from ..crop import CropOptions
        from ..crop.animate import source_boxes

        return source_boxes(self.source, self.animation.crop, CropOptions(target=self.options.target),
                            fix=APP_WORDS.fixes["source"])

    def _friendly(self, read, path: Path):
        """``read(path)``, with the server's temporary path replaced by the file's name in errors."""
        try:
            return read(path)
        except FommError as exc:
            message = str(exc).replace(str(path), _user_name(path))
            raise type(exc)(message) from exc

    def run(self) -> Iterator[JobProgress]:
        """Animate, yielding progress after every frame; ``self.result`` is set at the end. Closing the
        generator early (a cancelled job) stops the animation and leaves no output behind."""
        yield JobProgress("model", 0, None)
        model = self.models.get(self.options.checkpoint)
        video, overlay = self.workdir / "result.mp4", self.workdir / "overlay.mp4"
        outputs = [Output(video), Output(overlay, layout="side-by-side", keypoints=True, audio=False, crop_view=True)]
        channel: queue.SimpleQueue = queue.SimpleQueue()
        cancelled = threading.Event()
        outcome: dict = {}
        started: set[str] = set()

        def progress(event: Progress) -> None:
            if cancelled.is_set():
                raise _Cancelled  # unwinds the animation: its partial outputs are discarded
            if event.stage == "animate":
                channel.put(JobProgress("animate", event.done, event.total))
            elif event.stage != "note" and event.stage not in started:  # the page shows a pass's start
                started.add(event.stage)
                channel.put(JobProgress(STAGES.get(event.stage, event.stage), 0, event.total))

        def work() -> None:  # the animation runs in its own thread; its progress comes out here, in order
            try:
                outcome["result"] = animate_file(model, self.source, self.driving_path, outputs, self.animation,
                                                 progress=progress, overwrite=True, words=APP_WORDS,
                                                 driving_name=_user_name(self.driving_path), photo_boxes=self.boxes)
            except BaseException as exc:  # noqa: BLE001 (raised again in the job's thread below)
                outcome["error"] = exc
            finally:
                channel.put(None)

        start = time.perf_counter()
        worker = threading.Thread(target=work, name="fomm-app-animate", daemon=True)
        worker.start()
        try:
            while (item := channel.get()) is not None:
                yield item
        finally:
            cancelled.set()  # a closed generator (cancel): the animation stops at its next frame
            worker.join()
        if "error" in outcome:
            raise outcome["error"]
        result = outcome["result"]
        best = result.best_frame.index if result.best_frame is not None else None
        self.result = JobResult(video, overlay, result.frames, self.info.fps, time.perf_counter() - start, best)


class WorkFolder:
    """The app's temporary folder: one subfolder per job, the oldest removed when there are more than
    ``keep``, everything removed by :meth:`cleanup` (on shutdown).

    The folder holds a lock file, locked while its server runs (the lock goes with the process, even
    killed), so the next server's :meth:`remove_stale` can tell the folders of dead servers, with their
    users' uploads, from those of running ones.
    """

    PREFIX = "fomm-app-"
    LOCK = ".fomm-app.lock"

    def __init__(self, root: str | Path | None = None, keep: int = 16):
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix=self.PREFIX))
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = _locked(self.root / self.LOCK)
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
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    @classmethod
    def remove_stale(cls, parent: str | Path | None = None) -> list[Path]:
        """Remove the work folders in ``parent`` (default: the temporary folder) left by servers that
        were killed: this user's, with a lock file nobody holds. Returns the folders removed."""
        removed: list[Path] = []
        if fcntl is None:  # pragma: no cover (Windows: no lock to tell a dead server's folder)
            return removed
        for folder in sorted(Path(parent or tempfile.gettempdir()).glob(cls.PREFIX + "*")):
            try:
                if folder.is_symlink() or not folder.is_dir() or folder.lstat().st_uid != os.getuid():
                    continue
                lock = folder / cls.LOCK
                if lock.is_symlink() or not lock.is_file():
                    continue  # not a WorkFolder's (or one being made this instant)
                held = _locked(lock)
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if held is None:
                continue  # its server is running
            try:
                shutil.rmtree(folder, ignore_errors=True)
            finally:
                held.close()
            removed.append(folder)
            logger.info("removed %s, left by a server that did not stop", folder)
        return removed


def _locked(path: Path):
    """``path`` opened and locked (exclusive, not waiting), or None when another process holds it; a
    no-op lock (the open file) where there is no ``fcntl``."""
    handle = open(path, "a+b")  # noqa: SIM115 (held open while the lock is needed)
    if fcntl is None:  # pragma: no cover
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
