"""``torchrun --nproc_per_node 2 ... fomm train`` on CPU (gloo): both ranks end with identical weights
and only rank 0 writes files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from .helpers import tiny_config_dict

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_processes_train_identical_weights(dataset_dir, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict(generator_gan=1)))  # the discriminator's DDP too
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(REPO / "tests" / "training" / "ddp_worker.py"), "--config", str(config), "--data",
               str(dataset_dir), "--out", str(out), "--vgg-random", "--workers", "0", "--device", "cpu",
               "--max-steps", "8"]  # one whole epoch (8 steps of 1 sample per process)
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [8, 8]
    for key, value in ranks[0]["model"].items():
        torch.testing.assert_close(ranks[1]["model"][key], value, rtol=0, atol=0, msg=key)
    first, second = (r["optimizer_generator"]["state"] for r in ranks)
    for key in first:
        torch.testing.assert_close(second[key]["exp_avg_sq"], first[key]["exp_avg_sq"], rtol=0, atol=0)
    files = sorted(p.name for p in out.iterdir())
    assert [n for n in files if n.endswith(".pth.tar")] == ["00000000-checkpoint.pth.tar"]
    assert len([n for n in files if n.startswith("events.out.tfevents")]) == 1
    assert len((out / "log.txt").read_text().splitlines()) == 1
    assert done.stderr.count("00000000) perceptual - ") == 1  # only rank 0 reports progress
