"""The Ray backend of ``fomm batch --ray``: the same jobs on a Ray cluster, through Ray Data.

The plan (validation, resume, retry) is made by the driver exactly as for a local run; the jobs become
a Ray dataset with one job per block, mapped by a pool of actors, one per GPU (or per CPU slot), each
holding a :class:`~fomm.batch.runner.Runner` and so the model. Results stream back to the driver,
which appends them to the one status file as they arrive. Ray comes with the ``fomm[ray]`` extra and
is imported only here. Every node needs fomm installed and the media at the same paths (a shared
file system), as for any Ray job.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import FommError
from .runner import AnimateTask, Job, Runner
from .status import Record

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'fomm[ray]'"


class RayError(FommError, RuntimeError):
    """Ray is missing or its cluster cannot be reached."""


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 (Ray Data needs its own extra: pyarrow, pandas)
    except ImportError as exc:
        raise RayError(f"--ray needs Ray and Ray Data, which are not installed ({exc.name} is missing): "
                       f"{INSTALL_HINT}") from None
    return ray


class _RayRunner:
    """A Ray Data actor: one runner for its whole life, one row per call."""

    def __init__(self, device: str | None, overwrite: bool, threads: int, task: AnimateTask):
        import torch

        torch.set_num_threads(threads)
        self.runner = Runner(device, overwrite=overwrite, task=task)

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        import ray

        job: Job = pickle.loads(item["job"])
        self.runner.name = ray.get_runtime_context().get_actor_id()[:8]
        return {"record": pickle.dumps(self.runner.run(job))}


@contextlib.contextmanager
def ray_session(address: str, workers: int | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, joined to the cluster at ``address`` ("auto": the one this machine belongs to) or to a local one
    started for this block ("local", with ``num_cpus`` CPUs, default ``workers``), and stopped after it
    if this block started it. Connecting comes before any row is recorded, so a cluster that cannot be
    reached fails the batch at once."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        if address == "local":
            ray.init(num_cpus=num_cpus or workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayError(f"--ray {address}: cannot reach a Ray cluster ({str(exc).splitlines()[0]}); start one with "
                       "`ray start --head`, give its address, or use --ray local") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def run_ray(ray, jobs: Sequence[Job], *, device: str | None, workers: int | None, overwrite: bool,
            on_record: Callable[[Record], None], task: AnimateTask | None = None) -> None:
    """Run ``jobs`` on Ray (joined by :func:`ray_session`), calling ``on_record`` in the driver as each
    result arrives."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver shows one bar of its own
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if device in (None, "auto") or str(device).startswith("cuda") else 0
    size = min(workers or gpus or int(resources.get("CPU", 1)), len(jobs))
    logger.info("Ray: %d actors, one per %s", size, "GPU" if gpus else "CPU slot")
    items = [{"job": pickle.dumps(job)} for job in jobs]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))  # one job per block: all actors busy
    results = dataset.map(_RayRunner, fn_constructor_kwargs={
        "device": "cuda" if gpus else "cpu", "overwrite": overwrite, "threads": 1, "task": task or AnimateTask()},
        concurrency=size, num_gpus=1 if gpus else 0, num_cpus=1)
    for item in results.iter_rows():
        on_record(pickle.loads(item["record"]))
