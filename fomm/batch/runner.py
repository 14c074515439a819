"""One row of a batch, run where the model lives: a local worker process or a Ray actor.

A :class:`Runner` holds one model per checkpoint it has met (loaded on first use) and turns a
:class:`Job` into a :class:`~fomm.batch.status.Record` through its task (:class:`AnimateTask`:
:func:`fomm.animate_file`, the one animation entry point): a bad row becomes an ``error`` record with
its one-line message, never an exception, so the batch goes on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FommError
from .manifest import Row
from .status import ERROR, OK, Record, one_line

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A row ready to run: its validated options and the checkpoint that animates it."""

    row: Row
    options: Any  # fomm.AnimationOptions
    checkpoint: str

    @property
    def key(self) -> str:
        return self.row.key


def record_for(row: Row, status: str, **fields) -> Record:
    return Record(row.index, str(row.source), str(row.driving), str(row.output), status, **fields)


def source_picture(path: Path):
    """The source of a row: an image path as is; a video (or folder of frames) gives its first frame,
    as the paper animates one test video's first frame with another's motion."""
    from ..io import VideoReader, is_image_path

    if is_image_path(path):
        return path
    with VideoReader(path) as reader:
        for frame in reader:
            return frame
    raise FommError(f"{path} has no frames to take the source picture from; give an image or a non-empty video")


def output_complete(path: Path, record: Record | None) -> bool:
    """True when ``path`` holds a finished output: fomm writes outputs under a temporary name and renames
    them, so an existing one is whole; it is checked anyway (the size this batch recorded, else it must
    open as a video with frames), so that a foreign or damaged file is not taken as done."""
    from ..io.outputs import MARKER

    if path.is_dir():
        return (path / MARKER).is_file()
    if not path.is_file():
        return False
    if record is not None and record.status == OK and record.bytes == path.stat().st_size:
        return True
    from ..io import probe_video

    try:
        return bool(probe_video(path).num_frames)
    except (FommError, OSError):
        return False


class AnimateTask:
    """What a row of ``fomm batch`` is: its source picture animated by its driving video into its output,
    through ``animate`` (:func:`fomm.animate_file` unless a test gives another with its signature).

    The engine knows rows only through a task (picklable: it travels to the workers): ``options`` checks
    a row's option values before any work, ``complete`` tells a finished output, ``load`` gives the model
    of a checkpoint and ``run`` does one row, returning what has ``frames`` and ``truncated``. ``fomm
    reconstruct`` runs its videos through the same engine with a task of its own
    (:class:`fomm.batch.reconstruct.ReconstructTask`)."""

    verb = "animating"

    def __init__(self, animate: Callable | None = None):
        self.animate = animate

    def options(self, values: Mapping[str, Any]):
        from ..animation.options import AnimationOptions

        return AnimationOptions.from_mapping(values)

    def complete(self, row: Row, record: Record | None) -> bool:
        return output_complete(row.output, record)

    def load(self, checkpoint: str, device: str | None):
        from ..api import load_model

        return load_model(checkpoint, device=device)

    def run(self, model, job: Job, overwrite: bool):
        animate = self.animate
        if animate is None:
            from ..pipeline import animate_file as animate
        row = job.row
        return animate(model, source_picture(row.source), row.driving, row.output, job.options,
                       overwrite=overwrite, inputs=(row.source, row.driving, job.checkpoint))


class Runner:
    """Runs jobs of ``task`` (default: :class:`AnimateTask`) on ``device``, keeping each checkpoint's model
    loaded between rows."""

    def __init__(self, device: str | None = None, *, overwrite: bool = False, name: str = "0",
                 task: AnimateTask | None = None):
        self.device = device
        self.overwrite = overwrite
        self.name = name
        self.task = task or AnimateTask()
        self._models: dict[str, Any] = {}

    def model(self, checkpoint: str):
        """The model of ``checkpoint``, loaded once; a checkpoint that failed to load fails again at once."""
        if checkpoint not in self._models:
            try:
                self._models[checkpoint] = self.task.load(checkpoint, self.device)
            except FommError as exc:
                self._models[checkpoint] = exc
        found = self._models[checkpoint]
        if isinstance(found, FommError):
            raise found
        return found

    def run(self, job: Job) -> Record:
        """Do one row; its result (never an exception, but for Ctrl-C) as a status record."""
        row, start = job.row, time.perf_counter()
        try:
            result = self.task.run(self.model(job.checkpoint), job, self.overwrite)
        except FommError as exc:
            return self._failed(row, str(exc), start)
        except Exception as exc:  # a bug (or a failure fomm does not word yet): this row fails, the batch goes on
            logger.exception("row %d (%s): unexpected error", row.index, row.output)
            return self._failed(row, f"{type(exc).__name__}: {exc}", start)
        size = row.output.stat().st_size if row.output.is_file() else None
        message = None
        if getattr(result, "truncated", False):  # done, but say so
            message = f"{row.driving} is truncated or damaged: used the {result.frames} frames that decode"
        return record_for(row, OK, frames=result.frames, seconds=round(time.perf_counter() - start, 3),
                          message=message, bytes=size, worker=self.name)

    def _failed(self, row: Row, message: str, start: float) -> Record:
        return record_for(row, ERROR, seconds=round(time.perf_counter() - start, 3), message=one_line(message),
                          worker=self.name)
