"""Checkpoints of a training run: their names (the original's ``<epoch:08d>-checkpoint.pth.tar``, ours
for a stop in the middle of an epoch), finding the furthest one of a run folder, and loading the
matching weights of another model for fine-tuning. Reading and writing the files is
:mod:`fomm.checkpoints`'s."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..checkpoints import Checkpoint, CheckpointError, describe_mismatch, read_checkpoint


def checkpoint_name(epoch: int, batch: int = 0) -> str:
    """The original file name of the checkpoint at the end of ``epoch``: ``00000099-checkpoint.pth.tar``;
    with ``batch``, the checkpoint after ``batch`` batches of epoch ``epoch`` (unfinished):
    ``00000099-batch00000123-checkpoint.pth.tar``."""
    if batch:
        return f"{epoch:08d}-batch{batch:08d}-checkpoint.pth.tar"
    return f"{epoch:08d}-checkpoint.pth.tar"


_CHECKPOINT_NAME = re.compile(r"^(\d+)(?:-batch(\d+))?-checkpoint\.pth\.tar$")


def checkpoint_position(name: str) -> tuple[int, int] | None:
    """(epoch in progress, its batches done) of a checkpoint named by :func:`checkpoint_name`, or None
    for another name: ``00000004-checkpoint.pth.tar`` -> (5, 0), ``00000005-batch00000003-...`` -> (5, 3)."""
    match = _CHECKPOINT_NAME.match(name)
    if match is None:
        return None
    epoch, batch = int(match.group(1)), int(match.group(2) or 0)
    return (epoch, batch) if batch else (epoch + 1, 0)


def load_matching_weights(networks: Mapping[str, nn.Module], state_dicts: Mapping[str, Mapping[str, torch.Tensor]]
                          ) -> list[str]:
    """Copy every tensor of ``state_dicts`` whose name and shape match into ``networks`` (fine-tuning
    with a changed config); return the differences that were skipped, one line each."""
    skipped = []
    for name, net in networks.items():
        if name not in state_dicts:
            skipped.append(f"{name}: not in the checkpoint, kept freshly initialized")
            continue
        source = state_dicts[name]
        own = net.state_dict()
        matching = {k: v for k, v in source.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
        net.load_state_dict(matching, strict=False)
        skipped += describe_mismatch(net, source, name)
    return skipped


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The furthest checkpoint of a run folder (to resume a run by its folder): the highest
    (epoch, batch) position among the names of :func:`checkpoint_name`."""
    run_dir = Path(run_dir)
    found = [(position, path) for path in run_dir.glob("*-checkpoint.pth.tar")
             if (position := checkpoint_position(path.name)) is not None]
    if not found:
        raise CheckpointError(f"no *-checkpoint.pth.tar in {run_dir}; give the checkpoint file")
    return max(found)[1]


def read_run_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint to resume from: a checkpoint file, or the furthest checkpoint of a run folder."""
    path = Path(path)
    return read_checkpoint(latest_checkpoint(path) if path.is_dir() else path)


__all__ = ["checkpoint_name", "checkpoint_position", "latest_checkpoint", "load_matching_weights",
           "read_run_checkpoint"]
