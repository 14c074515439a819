"""Splitting a batch across launches: ``--shard I/N`` takes the rows whose manifest index is I modulo N,
so the N launches of one manifest cover every row exactly once, whatever order they run in.

Without ``--shard`` the launcher's variables decide: ``RANK``/``WORLD_SIZE`` (torchrun) or
``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT`` (a SLURM job array, whose ids may start at
``SLURM_ARRAY_TASK_MIN``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..errors import FommError

T = TypeVar("T")


class ShardError(FommError, ValueError):
    """A shard that cannot be: not I/N, or I outside 0..N-1."""


@dataclass(frozen=True)
class Shard:
    """Launch ``index`` of ``count``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ShardError(f"shard {self.index}/{self.count}: expected I/N with 0 <= I < N, e.g. 0/4 to 3/4")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"``, e.g. ``"2/8"``."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ShardError(f"--shard {text}: expected I/N, e.g. 0/4 (the first of four launches)") from None
        return cls(index, count)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Shard:
        """The shard a launcher gives this process (torchrun, a SLURM array), else the whole batch."""
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" in env and "RANK" in env:
            return cls(_int(env, "RANK"), _int(env, "WORLD_SIZE"))
        if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
            first = _int(env, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else 0
            return cls(_int(env, "SLURM_ARRAY_TASK_ID") - first, _int(env, "SLURM_ARRAY_TASK_COUNT"))
        return cls()

    @property
    def whole(self) -> bool:
        return self.count == 1

    def select(self, rows: Sequence[T], index_of=lambda row: row.index) -> list[T]:
        """This shard's rows (by their manifest index, so the split does not depend on the rows' order)."""
        return [row for row in rows if index_of(row) % self.count == self.index]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ShardError(f"{name}={env[name]!r} is not an integer; fix the launcher or pass --shard I/N") from None
