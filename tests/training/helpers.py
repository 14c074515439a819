"""Tiny configs and generated videos for the training tests (moving colored squares, PNG folders)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fomm.config import Config, parse_config

SIZE = 32


def tiny_config_dict(size: int = SIZE, **loss_weights) -> dict:
    """A config small enough to train for a few dozen steps in seconds on a CPU."""
    weights = {"generator_gan": 0, "discriminator_gan": 1, "feature_matching": [10, 10],
               "perceptual": [10, 10, 0, 0, 0], "equivariance_value": 10, "equivariance_jacobian": 10}
    weights.update(loss_weights)
    return {
        "dataset_params": {"root_dir": "unused", "frame_shape": [size, size, 3], "id_sampling": False},
        "model_params": {
            "common_params": {"num_kp": 3, "num_channels": 3, "estimate_jacobian": True},
            "kp_detector_params": {"temperature": 0.1, "block_expansion": 8, "max_features": 32,
                                   "scale_factor": 0.5, "num_blocks": 3},
            "generator_params": {"block_expansion": 8, "max_features": 32, "num_down_blocks": 2,
                                 "num_bottleneck_blocks": 1, "estimate_occlusion_map": True,
                                 "dense_motion_params": {"block_expansion": 8, "max_features": 32, "num_blocks": 3,
                                                         "scale_factor": 0.5}},
            "discriminator_params": {"scales": [1], "block_expansion": 8, "max_features": 32, "num_blocks": 2,
                                     "sn": True, "use_kp": True},
        },
        "train_params": {"num_epochs": 2, "num_repeats": 4, "epoch_milestones": [1], "batch_size": 2,
                         "scales": [1, 0.5], "checkpoint_freq": 1, "loss_weights": weights,
                         "lr_generator": 2e-3, "lr_kp_detector": 2e-3, "lr_discriminator": 2e-3},
    }


def tiny_config(size: int = SIZE, **loss_weights) -> Config:
    return parse_config(tiny_config_dict(size, **loss_weights))


def square_video(num_frames: int, size: int, color: tuple[int, int, int], seed: int) -> np.ndarray:
    """(T, size, size, 3) uint8: a colored square moving along a line over a gray background."""
    rng = np.random.default_rng(seed)
    side = size // 3
    start, end = rng.uniform(0, size - side, 2), rng.uniform(0, size - side, 2)
    frames = np.full((num_frames, size, size, 3), 96, np.uint8)
    for t in range(num_frames):
        x, y = (start + (end - start) * t / max(num_frames - 1, 1)).round().astype(int)
        frames[t, y:y + side, x:x + side] = color
    return frames


def write_dataset(root: Path, size: int = SIZE, num_videos: int = 4, num_frames: int = 6) -> Path:
    """``root/train`` and ``root/test`` with PNG-folder videos of moving squares."""
    colors = [(230, 40, 40), (40, 200, 60), (50, 70, 230), (230, 210, 30), (210, 50, 210)]
    for split, count in (("train", num_videos), ("test", 1)):
        for i in range(count):
            folder = root / split / f"{split}{i:02d}"
            folder.mkdir(parents=True)
            video = square_video(num_frames, size, colors[i % len(colors)], seed=i + 100 * (split == "test"))
            for t, frame in enumerate(video):
                Image.fromarray(frame).save(folder / f"{t:04d}.png")
    return root


class RandomPairs:
    """An in-memory dataset of random frame pairs with the items of ``FramesDataset``."""

    def __init__(self, length: int = 4, size: int = SIZE, seed: int = 0):
        import torch

        generator = torch.Generator().manual_seed(seed)
        self.frames = torch.rand(length, 2, 3, size, size, generator=generator)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        return {"source": self.frames[index, 0], "driving": self.frames[index, 1], "name": f"pair{index}"}


def assert_same_training(a, b) -> None:
    """Two trainers in the same state to the bit: weights, every optimizer's moments and groups, the
    schedules, the position (resume is exact only if all of them are)."""
    for key, value in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[key], value, rtol=0, atol=0, msg=key)
    for name, optimizer in a.optimizers.items():
        mine, theirs = optimizer.state_dict(), b.optimizers[name].state_dict()
        assert mine["param_groups"] == theirs["param_groups"], name
        for index, state in mine["state"].items():
            for key, value in state.items():
                torch.testing.assert_close(theirs["state"][index][key], value, rtol=0, atol=0, msg=f"{name} {key}")
    for name, scheduler in a.schedulers.items():
        assert b.schedulers[name].state_dict() == scheduler.state_dict(), name
    assert (b.epoch, b.global_step) == (a.epoch, a.global_step)


def assert_resumes_exactly(make: Callable[..., object], root: Path, authors_keys: set[str], family: str,
                           epoch_key: str) -> None:
    """4 steps (2 epochs of 2) done at once == 1 + resume + 2 (across the epoch end) + resume + 1, for
    ``make(out, max_steps=...)`` a family's trainer: same state, same log, the authors' keys in the files
    and the epoch under the family's own key."""
    from fomm.checkpoints import read_checkpoint
    from fomm.training.state import STATE_KEY
    from fomm.training.trainer import latest_checkpoint

    straight = make(root / "straight")
    assert straight.fit().global_step == 4
    out = root / "stopped"
    first = make(out, max_steps=1).fit()
    raw = torch.load(first.checkpoint, map_location="cpu", weights_only=True)
    assert set(raw) == authors_keys | {"config", STATE_KEY} and raw[epoch_key] == -1
    for steps in (2, None):
        trainer = make(out, max_steps=steps)
        trainer.resume(latest_checkpoint(out))
        trainer.fit()
    assert_same_training(straight, trainer)
    assert (out / "log.txt").read_text() == (root / "straight" / "log.txt").read_text()
    assert sorted(p.name for p in out.glob("*.pth.tar")) == ["00000000-checkpoint.pth.tar",
                                                              "00000001-checkpoint.pth.tar"]
    ckpt = read_checkpoint(out / "00000001-checkpoint.pth.tar")
    assert (ckpt.family, ckpt.epoch_key, ckpt.epoch) == (family, epoch_key, 1)
