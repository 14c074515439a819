"""The training data loader with worker processes gives the samples of the in-process loader: the same
videos in the same order, the same frames, each pair taken from its own video."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fomm.data.datasets import make_dataset
from fomm.training.trainer import Trainer

from .helpers import tiny_config, write_dataset


def _trainer(root, tmp_path, workers: int) -> Trainer:
    config = tiny_config(perceptual=[0, 0, 0, 0, 0], reconstruction_l1=10)
    config.dataset_params.root_dir = str(root)
    return Trainer(config, make_dataset(config), tmp_path / f"run{workers}", device="cpu", num_workers=workers,
                   seed=3, visualize=False, tensorboard=False)


def _epoch(trainer: Trainer, epoch: int = 0) -> list[dict]:
    trainer.sampler.set_epoch(epoch)  # what fit() does at the start of each epoch
    return list(trainer.loader)


@pytest.mark.slow
def test_workers_give_the_samples_of_the_main_process(tmp_path):
    """One-frame videos make every item's frames known: with 2 workers, each batch holds exactly the
    tensors the in-process loader gives (same order, same frames)."""
    root = write_dataset(tmp_path / "data", num_videos=4, num_frames=1)
    batches = {w: _epoch(_trainer(root, tmp_path, w)) for w in (0, 2)}
    assert len(batches[0]) == len(batches[2]) == 8  # 4 videos x 4 repeats / batch 2
    for inline, worker in zip(batches[0], batches[2], strict=True):
        assert inline["name"] == worker["name"]
        assert torch.equal(inline["source"], worker["source"]) and torch.equal(inline["driving"], worker["driving"])
    names = [n for b in batches[2] for n in b["name"]]
    assert sorted(names) == sorted([f"train{i:02d}" for i in range(4)] * 4)  # every repeat of every video


@pytest.mark.slow
def test_worker_pairs_come_from_their_video(dataset_dir, tmp_path):
    """Multi-frame videos (random frame pairs): with 2 workers, the same pairs as in-process, and each
    frame is a frame of the named video, the source not after the driving frame."""
    trainers = {w: _trainer(dataset_dir, tmp_path, w) for w in (0, 2)}
    batches = {w: _epoch(t, epoch=1) for w, t in trainers.items()}
    for inline, worker in zip(batches[0], batches[2], strict=True):
        assert inline["name"] == worker["name"]
        assert torch.equal(inline["source"], worker["source"]) and torch.equal(inline["driving"], worker["driving"])
    for batch in batches[2]:
        for name, source, driving in zip(batch["name"], batch["source"], batch["driving"], strict=True):
            frames = [np.array(Image.open(p)) for p in sorted((dataset_dir / "train" / name).iterdir())]
            frames = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames]
            matches = [[i for i, f in enumerate(frames) if torch.allclose(f, x, atol=1e-6)] for x in (source, driving)]
            assert matches[0] and matches[1], name
            assert min(matches[0]) <= max(matches[1])
