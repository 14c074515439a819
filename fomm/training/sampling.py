"""The data order of a training epoch as a pure function of (seed, epoch), so that a resumed run
sees exactly the batches the uninterrupted run would have, whatever the DataLoader workers do.

:class:`EpochSampler` shuffles the (repeated) dataset with a generator seeded from (seed, epoch),
gives each process of a distributed run every ``world_size``-th item (as ``DistributedSampler`` with
``drop_last``), and can start at any position of the epoch without loading the items before it.
It yields ``(index, item_seed)``; :class:`SeededItems` seeds torch, numpy and ``random`` with
``item_seed`` around each item, so an item's augmentation depends on (seed, epoch, position) only,
not on which worker loads it or what it loaded before.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .state import derived_seed


class EpochSampler(Sampler[tuple[int, int]]):
    """``(index, item_seed)`` of one epoch for one process, from position ``start`` on (see the module)."""

    def __init__(self, length: int, seed: int, rank: int = 0, world_size: int = 1):
        self.length = length
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.per_process = length // world_size  # the rest is dropped, as DistributedSampler(drop_last=True)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Iterate epoch ``epoch`` from this process's ``start``-th item."""
        self.epoch = epoch
        self.start = min(max(start, 0), self.per_process)

    def __len__(self) -> int:
        return self.per_process - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        order = torch.randperm(self.length, generator=generator).tolist()
        total = self.per_process * self.world_size
        for position in range(self.rank + self.start * self.world_size, total, self.world_size):
            yield order[position], derived_seed(self.seed, self.epoch, position)


class SeededItems(Dataset):
    """``dataset[index]`` under the global generators seeded with ``item_seed``; their previous states
    are put back, so loading in the main process (no workers) leaves the training draws untouched."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        python_state, numpy_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            try:
                return self.dataset[index]
            finally:
                random.setstate(python_state)
                np.random.set_state(numpy_state)


__all__ = ["EpochSampler", "SeededItems"]
