"""Fault injection: ``fomm train`` killed with SIGKILL at random moments (seeded), a third of them inside
a checkpoint save (while the bytes are written, before the rename, just after it). After every kill
each checkpoint present loads completely with ``weights_only=True``, no finished checkpoint is lost,
nothing beside them can be taken for a checkpoint, and the next run resumes from the newest one: a
segment that ends by ``--max-steps N`` is exactly N steps further. A last run finishes the training,
with one log line per epoch and no leftovers (at the end of the epoch it is in: ``--epochs``).

Each run is ``fomm train`` (``fomm.cli.main.main``) in a forked child of this process, which ran the
first segment itself: a kill costs no interpreter start and no import.
"""

from __future__ import annotations

import faulthandler
import io
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest
import torch
import torch.utils.tensorboard  # noqa: F401  (imported once here, not in every child)
import tqdm
from PIL import Image

from fomm.cli.main import main
from fomm.config import load_config
from fomm.io.outputs import MARKER
from fomm.model import FOMM
from fomm.training.state import STATE_KEY

KILLS = 20
EPOCHS = 16  # more than the kills get through; the last run ends the run at the next epoch end
STEPS_PER_EPOCH = 4  # 4 training videos x num_repeats 2 / batch_size 2
SHRINK = {
    "dataset_params.frame_shape": "[32, 32, 3]",
    "model_params.common_params.num_kp": "4",
    "model_params.kp_detector_params.block_expansion": "8",
    "model_params.kp_detector_params.max_features": "32",
    "model_params.kp_detector_params.num_blocks": "2",
    "model_params.generator_params.block_expansion": "8",
    "model_params.generator_params.max_features": "32",
    "model_params.generator_params.num_bottleneck_blocks": "1",
    "model_params.generator_params.dense_motion_params.block_expansion": "8",
    "model_params.generator_params.dense_motion_params.max_features": "32",
    "model_params.generator_params.dense_motion_params.num_blocks": "2",
    "model_params.discriminator_params.block_expansion": "8",
    "model_params.discriminator_params.max_features": "32",
    "model_params.discriminator_params.num_blocks": "1",
    "train_params.num_repeats": "2",
    "train_params.batch_size": "2",
    "train_params.checkpoint_freq": "1",
    "train_params.scales": "[1]",
    "train_params.epoch_milestones": "[8]",
    "train_params.num_epochs": str(EPOCHS),
}
# Half the runs are killed from outside at a random time of their life, half inside a save.
KINDS = ("timed", "while-writing", "timed", "before-rename", "timed", "after-rename")
CHECKPOINT = re.compile(r"^(\d{8,})(?:-batch(\d{8,}))?-checkpoint\.pth\.tar$")
ORIGINAL_KEYS = {"generator", "kp_detector", "discriminator", "optimizer_generator", "optimizer_kp_detector",
                 "optimizer_discriminator", "epoch"}


def _run_child(argv: list[str], log: Path, inject: str | None = None, nth_save: int = 1,
               rng_seed: int = 0) -> int:
    """Fork ``fomm train ARGV``; ``inject`` kills the child itself inside its ``nth_save`` checkpoint save."""
    pid = os.fork()
    if pid:
        return pid
    # A lock of the child's own: tqdm's default one is a semaphore shared with this process across the fork,
    # and a child killed inside a progress update would leave it taken, hanging every later tqdm here.
    tqdm.tqdm.set_lock(threading.RLock())
    code = 1
    try:
        sys.stdout = sys.stderr = open(log, "w")  # noqa: SIM115 (the child ends with os._exit)
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)  # a hung child's stacks
        if inject is not None:
            _inject(inject, nth_save, random.Random(rng_seed))
        code = main(argv)
    except BaseException:  # noqa: BLE001 (report anything, then leave without pytest's cleanup)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        os._exit(code)


def _inject(kind: str, nth_save: int, rng: random.Random) -> None:
    saves = 0
    real_save, real_replace = torch.save, os.replace

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def save(obj, f, *args, **kwargs):
        nonlocal saves
        saves += 1
        if saves != nth_save:
            return real_save(obj, f, *args, **kwargs)
        if kind == "while-writing":
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()
            with open(f, "wb") as file:
                file.write(data[:rng.randrange(len(data))])
            die()
        real_save(obj, f, *args, **kwargs)
        if kind == "before-rename":
            die()

    def replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        if kind == "after-rename" and saves == nth_save and str(dst).endswith("checkpoint.pth.tar"):
            die()

    torch.save = save
    os.replace = replace


def _wait(pid: int, log: Path, seconds: float = 120) -> int:
    """The child's wait status; a child still running after ``seconds`` fails the test with its stacks."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGUSR1)
    time.sleep(1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"fomm train hung:\n{log.read_text()[-5000:]}")


def checked_segment(pid: int, log: Path, folder: Folder, before: int, steps: int) -> bool:
    """Wait for a resumed run of ``--max-steps steps`` and check the folder it leaves: True if it was
    killed (nothing finished is lost), else it ran exactly ``steps`` further than the checkpoint it
    resumed from."""
    status = _wait(pid, log)
    folder.check()
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        assert folder.newest() >= before
        return True
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, log.read_text()[-3000:]
    assert folder.newest() == before + steps, log.read_text()[-3000:]
    return False


def finish_the_epoch(resume: list[str], out: Path, logs: Path, folder: Folder) -> int:
    """A last run to the end of the epoch the kills left the run in: one checkpoint and one log line per
    epoch, nothing else in ``out``. Returns the number of epochs."""
    epochs = folder.newest() // STEPS_PER_EPOCH + 1
    pid = _run_child([*resume, "--epochs", str(epochs)], logs / "last.txt")
    assert _wait(pid, logs / "last.txt") == 0, (logs / "last.txt").read_text()[-3000:]
    folder.check()
    assert folder.newest() == epochs * STEPS_PER_EPOCH
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("events.out.tfevents"))
    assert names == sorted([MARKER, "config.yaml", "log.txt", "train-vis"]
                           + [f"{e:08d}-checkpoint.pth.tar" for e in range(epochs)]), names
    logged = [line.split(")")[0] for line in (out / "log.txt").read_text().splitlines()]
    assert logged == [f"{e:08d}" for e in range(epochs)]
    return epochs


class Folder:
    """Checks a run folder after each kill, reading each checkpoint file once per version."""

    def __init__(self, out: Path, keys: dict[str, set[str]], original_keys: set[str] = ORIGINAL_KEYS,
                 steps_per_epoch: int = STEPS_PER_EPOCH, epoch_key: str = "epoch"):
        self.out = out
        self.keys = keys  # network -> its state dict's keys
        self.original_keys, self.steps_per_epoch = original_keys, steps_per_epoch  # the family's, the run's
        self.epoch_key = epoch_key  # the family's key of the last finished epoch
        self.seen: dict[str, tuple] = {}
        self.positions: dict[str, int] = {}  # name -> global step

    def check(self) -> None:
        finished = {n for n in self.seen if CHECKPOINT.match(n).group(2) is None}
        names = set()
        for path in self.out.iterdir():
            name = path.name
            if name == MARKER:  # fomm's mark on the folders it makes (fomm.io.outputs)
                continue
            if name.startswith("."):  # the temporary file of an interrupted save: never a checkpoint's name
                assert not CHECKPOINT.match(name) and ".partial" in name, name
                continue
            if name in ("config.yaml", "log.txt", "train-vis") or name.startswith("events.out.tfevents"):
                continue
            match = CHECKPOINT.match(name)
            assert match, f"unexpected file {name}"
            names.add(name)
            stat = path.stat()
            version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if self.seen.get(name) != version:
                self.positions[name] = self._verify(path, match)
                self.seen[name] = version
        assert finished <= names, f"finished checkpoints lost: {finished - names}"
        for gone in set(self.seen) - names:
            del self.seen[gone]

    def _verify(self, path: Path, match: re.Match) -> int:
        raw = torch.load(path, map_location="cpu", weights_only=True)  # complete, or this raises
        assert self.original_keys | {STATE_KEY, "config"} <= set(raw), path.name
        for name, keys in self.keys.items():
            assert set(raw[name]) == keys, (path.name, name)
        state = raw[STATE_KEY]
        number, batch = int(match.group(1)), int(match.group(2) or 0)
        if batch:  # mid-epoch: the epoch in progress and its batches done; ``epoch`` = the last finished one
            assert (state["epoch"], state["batch"], raw[self.epoch_key]) == (number, batch, number - 1), path.name
        else:
            assert (state["epoch"], state["batch"], raw[self.epoch_key]) == (number + 1, 0, number), path.name
        assert state["global_step"] == state["epoch"] * self.steps_per_epoch + state["batch"], path.name
        return state["global_step"]

    def newest(self) -> int:
        return max(self.positions[n] for n in self.seen)


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts_a_run(tmp_path, monkeypatch):
    # No tqdm monitor thread: a fork copies no threads, and a lock one of them held would stay locked.
    monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 0)
    if tqdm.tqdm.monitor is not None:
        tqdm.tqdm.monitor.exit()
        tqdm.tqdm.monitor = None
    data, out, logs = tmp_path / "data", tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    assert main(["synth", str(data), "--videos", "5", "--frames", "6", "--size", "32", "--seed", "0"]) == 0
    common = ["--out", str(out), "--workers", "0", "--device", "cpu", "--threads", "1"]
    sets = [item for key, value in SHRINK.items() for item in ("--set", f"{key}={value}")]
    fresh = ["train", "--config", "synthetic-64", "--data", str(data), *sets, *common]
    resume = ["train", "--checkpoint", str(out), *common]

    config = load_config("synthetic-64")
    from fomm.config import apply_overrides, parse_config
    config = parse_config(apply_overrides(config.to_dict(), [f"{k}={v}" for k, v in SHRINK.items()]))
    keys = {name: set(net.state_dict()) for name, net in FOMM(config, with_discriminator=True).networks().items()}
    folder = Folder(out, keys)

    rng = random.Random(20261127)
    assert main([*fresh, "--max-steps", "2"]) == 0  # here: every lazy import is done before the forks
    began = time.monotonic()
    pid = _run_child([*resume, "--max-steps", "2"], logs / "second.txt")
    assert _wait(pid, logs / "second.txt") == 0, (logs / "second.txt").read_text()
    segment_seconds = time.monotonic() - began  # how long a child lives: the range of the timed kills
    folder.check()
    assert folder.newest() == 4

    kills = runs = 0
    kinds = {"timed": 0, "while-writing": 0, "before-rename": 0, "after-rename": 0}
    while kills < KILLS:
        runs += 1
        assert runs < 3 * KILLS, "too few kills landed"
        kind = KINDS[runs % len(KINDS)]
        steps = rng.randint(1, 3) if kind == "timed" else 3  # 3 steps: most cross an epoch end (two saves)
        log = logs / f"{runs:03d}-{kind}.txt"
        before = folder.newest()
        if kind == "timed":
            pid = _run_child([*resume, "--max-steps", str(steps)], log)
            time.sleep(rng.uniform(0, 0.9 * segment_seconds))
            os.kill(pid, signal.SIGKILL)  # not reaped yet: a child that already ended keeps its exit status
        else:
            pid = _run_child([*resume, "--max-steps", str(steps)], log, kind, rng.randint(1, 2), rng.randrange(2**31))
        if checked_segment(pid, log, folder, before, steps):
            kills += 1
            kinds[kind] += 1
        assert folder.newest() < EPOCHS * STEPS_PER_EPOCH, "the run finished before the kills were done"
    assert all(kinds.values()), kinds  # every kind of moment was hit

    epochs = finish_the_epoch(resume, out, logs, folder)
    pictures = sorted((out / "train-vis").iterdir())
    assert {f"{e:08d}-rec.png" for e in range(epochs)} <= {p.name for p in pictures}
    for picture in pictures:
        assert re.fullmatch(r"\d{8}-[a-z]+\.png", picture.name), picture.name  # no temporary files
        Image.open(picture).load()  # complete
