"""``fomm reconstruct`` at scale: the paper's reconstruction evaluation of a dataset split on the batch
engine (worker processes, shards, resume), with the scores of the single-process
:func:`fomm.evaluation.reconstruct.reconstruct`.

Each test video is a row of the batch: a worker (holding the model once) reconstructs it from its
first frame with :func:`~fomm.evaluation.reconstruct._reconstruct_video`, the function the
single-process path runs, and writes its scores to ``OUT/per-video/<name>.json`` (atomically; with
``save_videos`` also ``<name>.mp4``). The engine's status file is ``OUT/per-video/batch-status.jsonl``,
so an interrupted run resumes where it stopped: rerunning the same command skips the videos already
scored. When every video of the split has its scores, the means over videos are computed from them,
in the dataset's order, as the single-process path does, and ``OUT/metrics.json`` and ``OUT/videos/``
are published. ``OUT/per-video/run.json`` records the settings of the scores, so that a resume with
another checkpoint or precision cannot mix scores of two models.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FommError
from .engine import BatchProgress, BatchSummary
from .engine import run as run_batch
from .manifest import Row
from .runner import Job
from .shard import Shard
from .status import ERROR, Record

logger = logging.getLogger(__name__)

WORK, RUN_FILE = "per-video", "run.json"


class ReconstructError(FommError, ValueError):
    """An output folder that holds the unfinished scores of other settings."""


@dataclass(frozen=True)
class _Done:
    """What the engine's runner reads of a finished row."""

    frames: int
    truncated: bool = False


class ReconstructTask:
    """The rows of ``fomm reconstruct``: a row is the video ``row.index`` of the dataset split, its output the
    scores file (see the module docstring). Picklable: the dataset is opened, and the model loaded, in
    each worker; a model given with :meth:`preload` serves the rows run in this process."""

    verb = "reconstructing"

    def __init__(self, root: str | Path, split: str, frame_shape: Sequence[int], *, config: str | None = None,
                 batch_size: int = 16, precision: str = "fp32", allow_slow: bool = False,
                 save_videos: str | None = None):
        self.root, self.split, self.frame_shape = str(root), split, tuple(frame_shape)
        self.config, self.batch_size, self.precision, self.allow_slow = config, batch_size, precision, allow_slow
        self.save_videos = save_videos
        self._dataset = self._model = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_dataset": None, "_model": None}

    def preload(self, model) -> None:
        self._model = model

    def settings(self, checkpoint: str) -> dict[str, Any]:
        """What the scores depend on (``run.json``)."""
        return {"checkpoint": str(checkpoint), "config": self.config, "data": os.path.abspath(self.root),
                "split": self.split, "frame_shape": list(self.frame_shape), "batch_size": self.batch_size,
                "precision": self.precision, "save_videos": self.save_videos}

    # ------------------------------------------------------------------ the task protocol (see AnimateTask)
    def options(self, values: Mapping[str, Any]) -> None:
        if values:
            raise FommError(f"fomm reconstruct takes no per-row options, got {', '.join(sorted(values))}")

    def complete(self, row: Row, record: Record | None) -> bool:
        return read_scores(row.output) is not None and (not self.save_videos or video_path(row.output).is_file())

    def load(self, checkpoint: str, device: str | None):
        if self._model is not None:
            return self._model
        from ..api import load_model

        return load_model(checkpoint, config=self.config, device=device)

    def run(self, model, job: Job, overwrite: bool) -> _Done:
        import torch

        from ..data.datasets import FramesDataset
        from ..evaluation.reconstruct import DEFAULT_FPS, _reconstruct_video, video_result_dict
        from ..io import atomic_path
        from ..io.outputs import remove_path
        from ..precision import Precision

        if self._dataset is None:
            self._dataset = FramesDataset(self.root, self.frame_shape, is_train=self.split == "train")
        video = self._dataset.video(job.row.index)
        saved = video_path(job.row.output) if self.save_videos else None
        if saved is not None:
            remove_path(saved)  # this run's own, left by a run killed before the scores were written
        precision = Precision.resolve(self.precision, model.device, self.allow_slow)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                result = _reconstruct_video(model, video, self.batch_size, self.save_videos, saved,
                                            video.fps or DEFAULT_FPS, lambda n: None, precision)
        finally:
            model.train(was_training)
        with atomic_path(job.row.output) as tmp:
            tmp.write_text(json.dumps(video_result_dict(result)) + "\n")
        return _Done(result.num_frames)


def video_path(scores: Path) -> Path:
    return scores.with_suffix(".mp4")


def read_scores(path: Path):
    """The :class:`~fomm.evaluation.reconstruct.VideoResult` in a scores file, or None (absent, damaged)."""
    from ..evaluation.reconstruct import video_result_from

    try:
        return video_result_from(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------- the run
@dataclass
class Reconstruction:
    """A run: the batch's summary (videos done, skipped, failed) and, once every video of the split has its
    scores, the :class:`~fomm.evaluation.reconstruct.ReconstructionResult` (else None)."""

    batch: BatchSummary
    result: Any  # ReconstructionResult | None
    scored: int  # videos of the split with scores
    total: int


def _check_work(work: Path, settings: Mapping[str, Any], overwrite: bool) -> None:
    """Scores of other settings are never mixed in: refuse them, unless ``overwrite``."""
    from ..io.outputs import mark_folder, remove_path

    run_file = work / RUN_FILE
    try:
        earlier = json.loads(run_file.read_text())
    except (OSError, ValueError):
        earlier = None
    if earlier is not None and earlier != dict(settings):
        if not overwrite:
            changed = ", ".join(f"{k} {earlier.get(k)!r} -> {v!r}" for k, v in settings.items() if earlier.get(k) != v)
            raise ReconstructError(f"{work} holds the scores of an unfinished run with other settings ({changed}); "
                                   "rerun with those to resume, pass --overwrite to start over, or use another --out")
        remove_path(work)
    work.mkdir(parents=True, exist_ok=True)
    mark_folder(work, "fomm reconstruct")
    run_file.write_text(json.dumps(dict(settings), indent=1) + "\n")


def reconstruct_dataset(model, data: str | Path, out_dir: str | Path | None = None, *, checkpoint: str = "default",
                        config: str | None = None, split: str = "test", batch_size: int = 16,
                        max_videos: int | None = None, save_videos: str | None = None,
                        frame_shape: Sequence[int] | None = None, precision: str = "fp32", allow_slow: bool = False,
                        workers: int | None = None, device: str | None = None, shard: Shard | str | None = None,
                        retry_failed: bool = False, overwrite: bool = False,
                        progress: Callable[[int, int, Record], None] | None = None,
                        initializer: Callable[[], None] | None = None) -> Reconstruction:
    """Reconstruct and score every video of ``data``'s ``split`` on the batch engine (module docstring).

    ``model``: ``checkpoint`` (with ``config``) loaded here, to check the dataset before any work; it
    serves the rows when ``workers=0``, else each worker process loads its own (on ``device``).
    ``out_dir``: where the scores, ``metrics.json`` and (``save_videos``) ``videos/`` go; None: a
    temporary folder (nothing kept, nothing to resume). ``workers``, ``shard``, ``retry_failed``,
    ``initializer``: as :func:`fomm.batch.run`; ``overwrite``: replace earlier results and redo every
    video. ``progress(frames_done, frames_total, record)``: after each video of this launch's shard.
    The other arguments are :func:`~fomm.evaluation.reconstruct.reconstruct`'s.
    """
    from ..evaluation.reconstruct import check_outputs, check_settings, frame_shape_of, open_split, video_output_names

    check_settings(save_videos, out_dir, batch_size)
    from ..precision import Precision

    shape = frame_shape_of(model, frame_shape)
    dataset = open_split(model, data, split, shape)
    precision = Precision.resolve(precision, model.device, allow_slow).name  # "auto" as what it is here
    task = ReconstructTask(data, split, shape, config=config, batch_size=batch_size, precision=precision,
                           allow_slow=allow_slow, save_videos=save_videos)
    task.preload(model)
    entries = dataset.entries[:max_videos]
    names = video_output_names([entry.name for entry in entries])
    if workers is None and len(entries) <= 1:
        workers = 0  # one video: no worker start-up to amortize
    shard = Shard.parse(shard) if isinstance(shard, str) else shard or Shard.from_env()

    def run_in(out: Path) -> Reconstruction:
        work = out / WORK
        _check_work(work, task.settings(checkpoint), overwrite)
        rows = [Row(i, entry.path, entry.path, work / f"{name}.json")
                for i, (entry, name) in enumerate(zip(entries, names, strict=True))]
        total = sum(entries[row.index].num_frames() for row in shard.select(rows))
        done = 0

        def on_row(update: BatchProgress) -> None:
            nonlocal done
            done += update.record.frames if update.record.status != ERROR else 0
            if progress is not None:
                progress(done, total, update.record)

        start = time.perf_counter()
        summary = run_batch(rows, work, checkpoint=checkpoint, workers=workers, device=device, shard=shard,
                            retry_failed=retry_failed, overwrite=overwrite, progress=on_row,
                            initializer=initializer, task=task)
        return _publish(rows, out, task, summary, time.perf_counter() - start)

    if out_dir is None:  # nothing kept: a temporary folder, and no path of it reported
        with tempfile.TemporaryDirectory(prefix="fomm-reconstruct-") as scratch:
            done = run_in(Path(scratch))
        if done.result is not None:
            done.result.metrics_path = None
        return done
    check_outputs(out_dir, save_videos=save_videos, overwrite=overwrite, inputs=[data, checkpoint])
    return run_in(Path(out_dir))


def _publish(rows: Sequence[Row], out: Path, task: ReconstructTask, summary: BatchSummary,
             seconds: float) -> Reconstruction:
    """With every video scored: ``metrics.json`` from the scores in the dataset's order, and ``videos/``."""
    from ..evaluation.reconstruct import METRICS, VIDEOS, summarize
    from ..io.outputs import partial_path, publish_folder, remove_path

    results = [read_scores(row.output) for row in rows]
    scored = sum(r is not None for r in results)
    if scored < len(rows):
        return Reconstruction(summary, None, scored, len(rows))
    staging = partial_path(out / VIDEOS) if task.save_videos else None
    if staging is not None:
        remove_path(staging)
        staging.mkdir()
        for row, result in zip(rows, results, strict=True):
            os.replace(video_path(row.output), staging / video_path(row.output).name)
            result.output = out / VIDEOS / video_path(row.output).name
    result = summarize(results, seconds, task.split)
    if result.keypoint_warning():
        logger.warning("%s", result.keypoint_warning())
    result.metrics_path = result.save_json(out / METRICS)
    if staging is not None:
        publish_folder(staging, out / VIDEOS, "fomm reconstruct")
    elif (out / VIDEOS).exists():  # checked by check_outputs: fomm's, and overwrite given
        remove_path(out / VIDEOS)
    return Reconstruction(summary, result, scored, len(rows))
