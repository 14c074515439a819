"""``torchrun --nproc_per_node 2 ... fomm train`` on CPU (gloo): the ranks load different samples (the
global batch is split, not repeated), and their weights equal those of ONE process that trains on the
same global batches from the same seed; only rank 0 writes files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from fomm.config import parse_config
from fomm.training.trainer import Trainer

from .helpers import RandomPairs, tiny_config_dict

REPO = Path(__file__).resolve().parents[2]
STEPS = 8  # one whole epoch: 4 videos x 4 repeats, 1 sample per process and step
# 8 steps of Adam: float summation order (a gradient all-reduce against a sum in one process) changes the
# weights by far less than this; training on other samples changes them by more than 100 times as much.
ATOL = 1e-6


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.detach().clone() for name, b in module.named_buffers()}


def _restore(module: torch.nn.Module, buffers: dict[str, torch.Tensor]) -> None:
    for name, b in module.named_buffers():
        b.copy_(buffers[name])


def train_in_one_process(config_dict: dict, ranks: list[dict]) -> Trainer:
    """The reference: one process, the same seed, each step on the union of the ranks' batches.

    On the CPU each process normalizes its own half of the batch (SyncBatchNorm needs CUDA), so each
    half goes through the networks separately and the mean of the two losses is minimized: what DDP's
    gradient averaging computes. Each half gets the random state its rank had (the equivariance
    transform's draw) and starts from the same buffers (spectral-norm vectors), as each process does.
    """
    trainer = Trainer(parse_config(config_dict), RandomPairs(8), "unused", device="cpu", seed=0,
                      visualize=False, tensorboard=False)
    model, world = trainer.model, len(ranks)
    for key, value in model.state_dict().items():  # the same seed gives the ranks' initial weights
        torch.testing.assert_close(value, ranks[0]["initial"][key], rtol=0, atol=0, msg=key)
    disc = model.discriminator
    for k in range(STEPS):
        batches = [rank["batches"][k] for rank in ranks]
        start = _snapshot(model)
        for name in ("generator", "kp_detector"):
            trainer.optimizers[name].zero_grad(set_to_none=True)
        disc.requires_grad_(False)
        steps = []
        for r, batch in enumerate(batches):
            _restore(model, start)
            torch.set_rng_state(batch["rng"])
            losses, step = trainer.generator_loss(batch["source"], batch["driving"], disc)
            (sum(losses.values()) / world).backward()
            steps.append(step)
            if r == 0:
                after = _snapshot(model)
        _restore(model, after)  # rank 0's buffers are the ones DDP broadcasts
        trainer.optimizers["generator"].step()
        trainer.optimizers["kp_detector"].step()
        disc.requires_grad_(True)
        trainer.optimizers["discriminator"].zero_grad(set_to_none=True)
        start = _snapshot(disc)
        for r, step in enumerate(steps):
            _restore(disc, start)
            losses = trainer.discriminator_step(step.pyramid_real, step.pyramid_generated, step.kp_driving.value)
            (sum(losses.values()) / world).backward()
            if r == 0:
                after = _snapshot(disc)
        _restore(disc, after)
        trainer.optimizers["discriminator"].step()
    return trainer


@pytest.mark.slow
def test_two_processes_train_as_one_on_the_global_batch(dataset_dir, tmp_path):
    config_dict = tiny_config_dict(generator_gan=1, perceptual=[0, 0, 0, 0, 0], reconstruction_l1=10)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(config_dict))  # the discriminator's DDP too
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(REPO / "tests" / "training" / "ddp_worker.py"), "--config", str(config), "--data",
               str(dataset_dir), "--out", str(out), "--workers", "0", "--device", "cpu",
               "--max-steps", str(STEPS)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [STEPS, STEPS]

    # The global batch of 2 is split: one sample per rank and step, different samples on the two ranks,
    # and over the epoch the two ranks together load each of the 4 videos x 4 repeats exactly once.
    for rank in ranks:
        assert [tuple(b["source"].shape) for b in rank["batches"]] == [(1, 3, 32, 32)] * STEPS
        assert len(rank["indices"]) == STEPS
    assert not set(ranks[0]["indices"]) & set(ranks[1]["indices"])
    assert sorted(ranks[0]["indices"] + ranks[1]["indices"]) == list(range(16))
    # (two repeats of one video can give the same frames: the pixels differ at some steps, not all)
    assert any(not torch.equal(b0["source"], b1["source"])
               for b0, b1 in zip(ranks[0]["batches"], ranks[1]["batches"], strict=True))

    # Both ranks end with the weights of one process trained on the same global batches.
    reference = train_in_one_process(config_dict, ranks)
    for key, value in reference.model.state_dict().items():
        for rank in ranks:
            torch.testing.assert_close(rank["model"][key], value, rtol=0, atol=ATOL, msg=key)
    for key, state in reference.optimizers["generator"].state_dict()["state"].items():
        for rank in ranks:
            torch.testing.assert_close(rank["optimizers"]["generator"]["state"][key]["exp_avg_sq"], state["exp_avg_sq"],
                                       rtol=1e-3, atol=1e-12)
    moved = max(float((ranks[0]["model"][k] - v).abs().max()) for k, v in ranks[0]["initial"].items()
                if v.is_floating_point())
    assert moved > 100 * ATOL  # training moved the weights far more than the tolerance

    files = sorted(p.name for p in out.iterdir())
    assert [n for n in files if n.endswith(".pth.tar")] == ["00000000-checkpoint.pth.tar"]
    assert len([n for n in files if n.startswith("events.out.tfevents")]) == 1
    assert len((out / "log.txt").read_text().splitlines()) == 1
    assert done.stderr.count("00000000) gen_gan - ") == 1  # only rank 0 reports progress
