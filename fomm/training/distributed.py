"""Multi-process training under ``torchrun``: DistributedDataParallel, one process per device.

``torchrun --nproc_per_node N -m fomm train ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
:func:`init_from_env` then joins the process group (NCCL on CUDA, gloo on CPU). Only rank 0 writes
files. Batch norm: on CUDA the networks' BatchNorm layers become ``SyncBatchNorm`` (the original
synchronized its batch norm across GPUs); PyTorch's SyncBatchNorm has no CPU implementation, so
on CPU/gloo each process keeps plain BatchNorm over its local batch and rank 0's running
statistics are the ones saved.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device_type: str) -> DistributedContext:
    """Join the process group described by torchrun's environment; single process otherwise."""
    if not launched_by_torchrun():
        return DistributedContext()
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return current()


def current() -> DistributedContext:
    """The context of the initialized process group (a single process when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistributedContext()
    return DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """SyncBatchNorm on CUDA; unchanged elsewhere (no CPU implementation exists)."""
    if device.type != "cuda":
        return module
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def wrap(module: nn.Module, ctx: DistributedContext, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel when running distributed, else itself."""
    if not ctx.enabled:
        return module
    device_ids = [device.index if device.index is not None else ctx.local_rank] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def max_over_ranks(value: int, ctx: DistributedContext, device: torch.device) -> int:
    """The largest ``value`` of all ranks, on every rank (so that all ranks stop at the same step)."""
    if not ctx.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def mean_over_ranks(values: dict[str, float], ctx: DistributedContext, device: torch.device) -> dict[str, float]:
    """Average per-rank values (loss means of an epoch) over all ranks."""
    if not ctx.enabled or not values:
        return values
    names = sorted(values)
    tensor = torch.tensor([values[n] for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= ctx.world_size
    return dict(zip(names, tensor.tolist(), strict=True))


def broadcast_buffers(modules: list[nn.Module], ctx: DistributedContext) -> None:
    """Copy rank 0's buffers (batch-norm statistics) to every rank, so all ranks end identical."""
    if not ctx.enabled:
        return
    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)
