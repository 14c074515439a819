"""``fomm.batch.run``: animate every row of a manifest, resumably, on several worker processes.

The plan is made once, in the calling process: each row's options are validated (a bad value fails
that row alone), rows whose output is already complete are skipped, rows that failed in an earlier
run are left alone unless ``retry_failed``. The rest go to the workers longest first, through one
shared queue; each worker loads the model once (per checkpoint) and runs rows until the queue is
empty. Every result is appended to the status file as it arrives, so a crash or kill -9 loses at
most the rows in flight, whose outputs (written to temporary names and renamed) do not exist yet.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from ..errors import FommError
from .manifest import Row, dataset_pairs, read_manifest
from .runner import AnimateTask, Job, Runner, record_for
from .shard import Shard
from .status import ERROR, OK, SKIPPED, STATUS_NAME, Record, StatusFile, latest, one_line, read_records, status_files

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the dispatcher checks that its workers are alive


class BatchError(FommError, RuntimeError):
    """The batch as a whole cannot run (its workers cannot start or keep dying)."""


@dataclass
class BatchProgress:
    """One row finished (or skipped): ``done`` of ``total`` rows of this run's shard."""

    done: int
    total: int
    record: Record


@dataclass
class BatchSummary:
    """What a run did. ``failed`` counts this run's failures and the earlier ones left alone."""

    rows: int
    done: int
    skipped: int
    failed: int
    frames: int
    seconds: float
    status_path: Path
    out_dir: Path
    failed_before: int = 0  # failed in an earlier run, not retried (see retry_failed)
    records: list[Record] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every row has its output."""
        return self.failed == 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        earlier = f" ({self.failed_before} in earlier runs: retry them with --retry-failed)" if self.failed_before \
            else ""
        return (f"{self.rows} rows: {self.done} done, {self.skipped} skipped, {self.failed} failed{earlier}; "
                f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} frames/s) -> {self.out_dir} "
                f"(status: {self.status_path})")


@dataclass
class Plan:
    """The rows of a run, sorted out before any work."""

    jobs: list[Job] = field(default_factory=list)  # to run, longest first
    settled: list[Record] = field(default_factory=list)  # skipped, or failed at validation
    failed_before: list[Record] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- planning
def make_plan(rows: Sequence[Row], defaults: Mapping[str, Any], checkpoint: str, previous: Mapping[str, Record],
              *, overwrite: bool = False, retry_failed: bool = False, task: AnimateTask | None = None) -> Plan:
    """Sort ``rows`` into jobs, skipped rows and failures (see the module docstring)."""
    task = task or AnimateTask()
    plan = Plan()
    for row in rows:
        earlier = previous.get(row.key)
        try:
            options = task.options({**defaults, **row.options})
        except FommError as exc:
            plan.settled.append(record_for(row, ERROR, message=one_line(str(exc))))
            continue
        if not overwrite and task.complete(row, earlier):
            frames = earlier.frames if earlier is not None and earlier.status == OK else 0
            plan.settled.append(record_for(row, SKIPPED, frames=frames, bytes=row.output.stat().st_size
                                           if row.output.is_file() else None))
        elif earlier is not None and earlier.status == ERROR and not retry_failed:
            plan.failed_before.append(earlier)
        else:
            plan.jobs.append(Job(row, options, row.checkpoint or checkpoint))
    plan.jobs.sort(key=lambda job: job.row.cost(), reverse=True)  # stable: equal lengths keep manifest order
    return plan


# ---------------------------------------------------------------------------------------------- devices
def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_devices(device: str | None, workers: int | None, jobs: int) -> list[str]:
    """The device of each worker: ``workers`` of them (default: 2 per GPU on CUDA, bounded by the CPUs;
    one per CPU core otherwise), never more than there are jobs. On several GPUs they take turns; under
    torchrun (``LOCAL_RANK``) a launch keeps to its own GPU."""
    import torch

    from ..api import select_device

    chosen = select_device(device)
    if chosen.type == "cuda" and chosen.index is None and "LOCAL_RANK" in os.environ:  # torchrun: a GPU per process
        chosen = torch.device("cuda", int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
    if chosen.type == "cuda":
        gpus = [chosen.index] if chosen.index is not None else list(range(torch.cuda.device_count()))
        count = workers or min(2 * len(gpus), available_cpus())
        names = [f"cuda:{gpus[i % len(gpus)]}" for i in range(count)]
    else:
        names = [str(chosen)] * (workers or available_cpus())
    return names[:max(1, jobs)]


def _check_device(device: str | None) -> None:
    """A device this machine lacks fails the batch at once (not every row, one by one, in the workers)."""
    from ..api import select_device

    try:
        select_device(device)
    except RuntimeError as exc:
        raise BatchError(f"device {device}: {str(exc).splitlines()[0]}") from None


# ---------------------------------------------------------------------------------------------- workers
def _die_with_parent(parent: int) -> None:
    """A worker must not outlive the batch (a kill -9 of it would leave workers writing outputs that the
    rerun writes too): on Linux the kernel kills it when its parent dies; elsewhere nothing is done."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def _worker(name: str, conn, device: str, threads: int, overwrite: bool, parent: int,
            initializer: Callable[[], None] | None, task: AnimateTask) -> None:
    """A worker process: one runner (the model, once per checkpoint), one row at a time from its own pipe
    until None, each result sent back whole on that pipe before the next row is asked for."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the dispatcher's to handle
    import torch

    torch.set_num_threads(threads)
    if initializer is not None:
        initializer()
    runner = Runner(device, overwrite=overwrite, name=name, task=task)
    while (item := conn.recv()) is not None:
        number, job = item
        conn.send((number, runner.run(job)))


@dataclass
class _Slot:
    """One worker process, its end of the pipe, and the row it holds (None when idle)."""

    process: Any
    conn: Any
    device: str
    holding: int | None = None


class _Pool:
    """The worker processes of a local run. Each has a pipe of its own, and the dispatcher hands out the
    rows one at a time, so it always knows which row a worker holds. Nothing is shared between workers:
    a worker that dies (killed for memory, at any instant, even mid-message) cannot block the others, as
    a lock of a shared queue would, and its pipe reports the death (EOF) with its process's sentinel."""

    def __init__(self, devices: Sequence[str], jobs: Sequence[Job], threads: int, overwrite: bool,
                 initializer: Callable | None, task: AnimateTask):
        self.context = multiprocessing.get_context("spawn")  # no forked copies of torch's threads and locks
        self.jobs = list(jobs)
        self.waiting = collections.deque(range(len(self.jobs)))  # longest first (the plan's order)
        self.args = (threads, overwrite, os.getpid(), initializer, task)
        self.slots: list[_Slot] = []
        self.deaths = 0
        self.started = 0
        for device in devices:
            self.start(device)

    def start(self, device: str) -> None:
        parent_end, child_end = self.context.Pipe()
        name = str(self.started)
        self.started += 1
        process = self.context.Process(target=_worker, args=(name, child_end, device, *self.args), daemon=True,
                                       name=f"fomm-batch-{name}")
        process.start()
        child_end.close()  # only the worker holds its end: its death is EOF here
        slot = _Slot(process, parent_end, device)
        self.slots.append(slot)
        self.feed(slot)

    def feed(self, slot: _Slot) -> None:
        """The next waiting row to an idle worker, or None (its signal to exit) when there is none."""
        slot.holding = self.waiting.popleft() if self.waiting and slot.process.is_alive() else None
        with contextlib.suppress(OSError):  # a worker that died already is noticed by wait()
            slot.conn.send(None if slot.holding is None else (slot.holding, self.jobs[slot.holding]))

    def results(self, timeout: float) -> tuple[list[tuple[int, Record]], list[tuple[int, int]]]:
        """Wait up to ``timeout`` s: (job number, record) of each row done, and (job number, exit code) of each
        row whose worker died holding it. A dead worker is replaced while rows wait; a finished one is let go."""
        busy = list(self.slots)
        ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy], timeout=timeout))
        records, lost = [], []
        for slot in busy:
            if slot.conn not in ready and slot.process.sentinel not in ready:
                continue
            message = self._receive(slot)
            if message is not None:
                records.append(message)
                self.feed(slot)
            elif not slot.process.is_alive():
                slot.process.join(timeout=10)
                self.slots.remove(slot)
                if slot.process.exitcode != 0:
                    self.deaths += 1
                if slot.holding is not None:
                    lost.append((slot.holding, slot.process.exitcode))
                if self.waiting:
                    self.start(slot.device)
        return records, lost

    @staticmethod
    def _receive(slot: _Slot):
        """The worker's next message, or None when its pipe is closed (it exited or died)."""
        try:
            return slot.conn.recv() if slot.conn.poll() else None
        except (EOFError, OSError):
            return None

    def close(self, pending: set[int]) -> None:
        """Stop the workers (at once, when the batch is interrupted) and remove the partial outputs of the
        rows they were writing (a run that is killed leaves them to the next one, which removes them)."""
        from ..io.outputs import partial_path, remove_path

        for slot in self.slots:
            if slot.process.is_alive():
                slot.process.kill()
            slot.process.join(timeout=10)
            slot.conn.close()
            if slot.holding in pending:
                remove_path(partial_path(self.jobs[slot.holding].row.output))


def _run_local(jobs: Sequence[Job], devices: Sequence[str], threads: int, overwrite: bool,
               initializer: Callable | None, task: AnimateTask, on_record: Callable[[Record], None]) -> None:
    """Run ``jobs`` on one worker process per entry of ``devices``; a dead worker's row fails (with its
    exit code) and the worker is replaced, unless they keep dying."""
    pending = set(range(len(jobs)))
    pool = _Pool(devices, jobs, threads, overwrite, initializer, task)
    try:
        while pending:
            records, lost = pool.results(POLL_SECONDS)
            for number, record in records:
                pending.discard(number)
                on_record(record)
            for number, code in lost:
                pending.discard(number)
                on_record(record_for(jobs[number].row, ERROR, message=one_line(
                    f"the worker died while {task.verb} this row (exit code {code}: out of memory?)")))
            if pool.deaths > 2 * len(devices) + len(jobs):
                raise BatchError(f"batch workers keep dying ({pool.deaths} so far); run one row with fomm animate "
                                 "to see why")
            if pending and not pool.slots:  # every worker gone, rows left: should not happen, but never hang
                raise BatchError(f"batch workers exited with {len(pending)} rows left; run again to resume")
    finally:
        pool.close(pending)


def _run_inline(jobs: Sequence[Job], device: str | None, overwrite: bool, task: AnimateTask,
                on_record: Callable[[Record], None]) -> None:
    runner = Runner(device, overwrite=overwrite, task=task)
    for job in jobs:
        on_record(runner.run(job))


# ---------------------------------------------------------------------------------------------- the entry point
def status_path_for(out_dir: Path, shard: Shard) -> Path:
    """``OUT/batch-status.jsonl``; a shard writes its own (``batch-status.shard-I-of-N.jsonl``), since
    appends from several machines to one file on a network file system are not atomic."""
    if shard.whole:
        return out_dir / STATUS_NAME
    return out_dir / f"{Path(STATUS_NAME).stem}.shard-{shard.index}-of-{shard.count}.jsonl"


def run(manifest: str | Path | Sequence[Row] | None, out_dir: str | Path, *,
        defaults: Mapping[str, Any] | None = None, checkpoint: str = "default", workers: int | None = None,
        device: str | None = None, shard: Shard | str | None = None, retry_failed: bool = False,
        overwrite: bool = False, root: str | Path | None = None, status: str | Path | None = None,
        pairs_from: str | Path | None = None, num_pairs: int = 100, seed: int = 0,
        ray: str | None = None, ray_options: Mapping[str, Any] | None = None,
        progress: Callable[[BatchProgress], None] | None = None, initializer: Callable[[], None] | None = None,
        animate: Callable | None = None, task: AnimateTask | None = None) -> BatchSummary:
    """Animate every row of ``manifest`` into ``out_dir`` and return what was done.

    ``manifest``: a CSV/JSONL path (see :mod:`fomm.batch.manifest`) or rows; or None with
    ``pairs_from`` a dataset folder, for ``num_pairs`` random cross-identity pairs of its test split
    (``seed``). ``defaults``: :class:`fomm.AnimationOptions` fields for every row (a row's own values
    win); ``checkpoint``: the model of rows that name none. ``workers``: processes (default: one per
    CPU core, or two per GPU; 0 runs the rows in this process); each sets ``torch`` to its share of the
    cores and calls ``initializer`` (a picklable function) first. ``shard``: this launch's part (see
    :class:`Shard`; default from torchrun's or SLURM's variables). ``ray``: run on Ray instead
    (``"local"``, ``"auto"`` or a cluster address; see :mod:`fomm.batch.ray_backend`). ``progress`` is called
    after each row. ``animate``: the function each row calls (default :func:`fomm.animate_file`);
    ``task``: what a row is, instead (see :class:`~fomm.batch.runner.AnimateTask`; ``fomm reconstruct``'s).
    """
    task = task or AnimateTask(animate)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if ray is not None:
        from .ray_backend import import_ray

        import_ray()  # a missing extra is said before any work
    else:
        _check_device(device)
    shard = Shard.parse(shard) if isinstance(shard, str) else shard or Shard.from_env()
    if manifest is None:
        if pairs_from is None:
            raise FommError("give a manifest, or a dataset folder to draw pairs from (--pairs-from DATASET_DIR)")
        rows = dataset_pairs(pairs_from, out_dir, num_pairs, seed)
    elif isinstance(manifest, (str, Path)):
        rows = read_manifest(manifest, out_dir, root)
    else:
        rows = list(manifest)
    rows = shard.select(rows)
    defaults = dict(defaults or {})
    task.options(defaults)  # options wrong for every row fail now, once
    status_path = Path(status) if status is not None else status_path_for(out_dir, shard)
    previous = latest(read_records([*status_files(out_dir), status_path]))
    plan = make_plan(rows, defaults, checkpoint, previous, overwrite=overwrite, retry_failed=retry_failed, task=task)
    summary = BatchSummary(len(rows), 0, 0, len(plan.failed_before), 0, 0.0, status_path, out_dir,
                           failed_before=len(plan.failed_before))
    with contextlib.ExitStack() as stack:
        status_file = stack.enter_context(StatusFile(status_path))
        cluster = None
        if ray is not None and plan.jobs:
            from .ray_backend import ray_session

            cluster = stack.enter_context(ray_session(ray, workers, **(ray_options or {})))

        def on_record(record: Record) -> None:
            status_file.append(record)
            summary.records.append(record)
            summary.done += record.status == OK
            summary.skipped += record.status == SKIPPED
            summary.failed += record.status == ERROR
            summary.frames += record.frames if record.status == OK else 0
            if progress is not None:
                progress(BatchProgress(len(summary.records) + summary.failed_before, len(rows), record))

        for record in plan.settled:
            on_record(record)
        if plan.jobs:
            _execute(plan.jobs, device=device, workers=workers, overwrite=overwrite, cluster=cluster,
                     initializer=initializer, task=task, on_record=on_record)
    summary.seconds = time.perf_counter() - started
    logger.info("%s", summary)
    return summary


def _execute(jobs: Sequence[Job], *, device, workers, overwrite, cluster, initializer, task, on_record) -> None:
    if cluster is not None:
        from .ray_backend import run_ray

        run_ray(cluster, jobs, device=device, workers=workers, overwrite=overwrite, on_record=on_record, task=task)
        return
    if workers == 0:
        _run_inline(jobs, device, overwrite, task, on_record)
        return
    devices = worker_devices(device, workers, len(jobs))
    threads = max(1, available_cpus() // len(devices))
    logger.info("%d workers (%s), %d torch threads each", len(devices), ", ".join(sorted(set(devices))), threads)
    _run_local(jobs, devices, threads, overwrite, initializer, task, on_record)
