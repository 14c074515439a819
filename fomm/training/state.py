"""The state of a training run between two steps, as one object, saved with every checkpoint so that a
run stopped anywhere (``--max-steps``, ``--max-minutes``, Ctrl-C, mid-epoch included) resumes at the
exact next batch and ends where an uninterrupted run would.

In a checkpoint file the authors' keys keep their meaning: the networks, ``optimizer_<network>``, and
``epoch`` = the last COMPLETED epoch (-1 when none: a checkpoint written in the middle of epoch 0).
Everything else is under :data:`STATE_KEY` as plain data and tensors (``weights_only`` loadable):
the epoch in progress and its batches done, the global step, the schedulers, the fp16 loss scalers,
the RNG states, the seed, the precision and what the data order depends on, the loss sums of the unfinished epoch.

Reproducibility does not rest on RNG continuity alone: the data order of an epoch is a function of
(seed, epoch), each item's randomness of (seed, epoch, position), and each step's draws (the
equivariance transforms) of (seed, step, rank); see :mod:`fomm.training.sampling`. The RNG states
are saved and restored as well, for anything outside those (a user's callback).
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

STATE_KEY = "fomm_training_state"
STATE_VERSION = 1


@dataclasses.dataclass
class TrainingState:
    """Where a run is and everything needed to go on from there.

    ``epoch`` is the epoch in progress (0-based) and ``batch`` its batches done; ``batch`` is 0 at an
    epoch boundary, so the last completed epoch is always ``epoch - 1``. ``optimizers`` hold state
    dicts; in a checkpoint file they live under the original ``optimizer_<name>`` keys, not here.
    """

    epoch: int = 0
    batch: int = 0
    global_step: int = 0
    seed: int = 0
    precision: str = "fp32"  # fp32, bf16 or fp16 (the autocast the steps ran under)
    vgg: str | None = None  # the perceptual network's weights: "imagenet", "random (seed N)"; None without one
    fused_adam: bool = False
    optimizers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    schedulers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    scalers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    rng: dict[str, Any] = dataclasses.field(default_factory=dict)
    # What the data order depends on: items per epoch, batch size per process, processes.
    data: dict[str, int] = dataclasses.field(default_factory=dict)
    # The loss sums and batch count of the unfinished epoch, so its log line covers the whole epoch.
    epoch_losses: dict[str, float] = dataclasses.field(default_factory=dict)
    epoch_batches: int = 0

    @property
    def completed_epoch(self) -> int:
        """The last epoch trained to its end (-1 when none): the original ``epoch`` key."""
        return self.epoch - 1

    def to_checkpoint(self) -> dict[str, Any]:
        """The :data:`STATE_KEY` entry of a checkpoint (without the optimizers, stored under their
        original keys): plain data and tensors only."""
        return {
            "version": STATE_VERSION, "epoch": self.epoch, "batch": self.batch, "global_step": self.global_step,
            "seed": self.seed, "amp": amp_name(self.precision), "fused_adam": self.fused_adam,
            "vgg": self.vgg,
            "schedulers": {name: _plain_scheduler(s) for name, s in self.schedulers.items()},
            "scalers": {name: dict(s) for name, s in self.scalers.items()},
            "rng": self.rng, "data": dict(self.data),
            "epoch_losses": dict(self.epoch_losses), "epoch_batches": self.epoch_batches,
        }

    @classmethod
    def from_checkpoint(cls, entry: Mapping[str, Any], optimizers: Mapping[str, Any] | None = None) -> TrainingState:
        """Rebuild from a :data:`STATE_KEY` entry and the checkpoint's ``optimizer_<name>`` entries."""
        version = entry.get("version", STATE_VERSION)
        if version > STATE_VERSION:
            raise ValueError(f"training state version {version} is newer than this fomm reads ({STATE_VERSION}); "
                             "update fomm to resume this run")
        return cls(
            epoch=int(entry["epoch"]), batch=int(entry["batch"]), global_step=int(entry["global_step"]),
            seed=int(entry.get("seed", 0)), precision=str(entry.get("amp") or "fp32"),
            fused_adam=bool(entry.get("fused_adam", False)), vgg=entry.get("vgg"),
            optimizers={k.removeprefix("optimizer_"): v for k, v in (optimizers or {}).items()},
            schedulers={name: _counter_scheduler(s) for name, s in entry.get("schedulers", {}).items()},
            scalers=dict(entry.get("scalers", {})), rng=dict(entry.get("rng", {})), data=dict(entry.get("data", {})),
            epoch_losses={k: float(v) for k, v in entry.get("epoch_losses", {}).items()},
            epoch_batches=int(entry.get("epoch_batches", entry["batch"])),
        )


def amp_name(precision: str) -> str | None:
    """The precision as a checkpoint stores it, under ``amp`` as runs always have (so old runs resume and
    older fomm reads new ones): None for fp32."""
    return None if precision == "fp32" else precision


def _plain_scheduler(state: Mapping[str, Any]) -> dict[str, Any]:
    # MultiStepLR keeps its milestones in a Counter, which weights_only loading refuses: store a dict.
    state = dict(state)
    if isinstance(state.get("milestones"), Counter):
        state["milestones"] = dict(state["milestones"])
    return state


def _counter_scheduler(state: Mapping[str, Any]) -> dict[str, Any]:
    state = dict(state)
    if "milestones" in state:
        state["milestones"] = Counter(state["milestones"])
    return state


# ------------------------------------------------------------------------------------ RNG states
def capture_rng() -> dict[str, Any]:
    """The states of Python's ``random``, numpy's global generator and torch's CPU (and CUDA, when
    initialized) generators, as tensors and plain values (``weights_only`` loadable)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss},
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Set the generators to a :func:`capture_rng` state (parts it lacks are left as they are)."""
    if "python" in state:
        p = state["python"]
        random.setstate((int(p["version"]), tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), int(n["pos"]), int(n["has_gauss"]),
                             float(n["cached_gaussian"])))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def derived_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (seed, epoch, position, ...)."""
    return int(np.random.SeedSequence([int(p) % 2**64 for p in parts]).generate_state(1, dtype=np.uint64)[0] % 2**63)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


__all__ = ["STATE_KEY", "TrainingState", "capture_rng", "derived_seed", "restore_rng", "seed_everything"]
