"""The fault-injection loop of the families' kill tests (``test_tpsmm_kill.py``, MRAA's in
``test_mraa_train.py``; FOMM's own, with more kills, is ``test_kill.py``): ``fomm train`` of a family's
config killed with SIGKILL while a checkpoint is written, before and after its rename, and at random
moments. After each kill every checkpoint present loads completely with the authors' keys, no finished
checkpoint is lost, and the next run resumes from the newest one (a run that ends by ``--max-steps N``
is exactly N steps further); a last run finishes the epoch it is in, leaving one log line per epoch."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import tqdm
import yaml

from fomm.cli.main import main
from fomm.families import get_family

from .test_kill import Folder, _run_child, _wait, checked_segment, finish_the_epoch

STEPS_PER_EPOCH = 4  # 4 training videos x num_repeats 2 / batch_size 2
KINDS = ("while-writing", "before-rename", "after-rename", "timed", "timed")


def kill_resume_and_finish(tmp_path: Path, monkeypatch, family_name: str, write_config: Callable[[Path, Path], None],
                           original_keys: set[str], size: int, epoch_key: str = "epoch",
                           extra: tuple[str, ...] = ()) -> None:
    """The loop on ``write_config(path, data_dir)``'s config (4 steps per epoch on 5 ``fomm synth``
    videos of ``size`` px); ``extra``: more ``fomm train`` arguments."""
    monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 0)  # no monitor thread across the forks
    if tqdm.tqdm.monitor is not None:
        tqdm.tqdm.monitor.exit()
        tqdm.tqdm.monitor = None
    data, out, logs, config = tmp_path / "data", tmp_path / "run", tmp_path / "logs", tmp_path / "config.yaml"
    logs.mkdir()
    assert main(["synth", str(data), "--videos", "5", "--frames", "6", "--size", str(size), "--seed", "0"]) == 0
    write_config(config, data)
    common = ["--out", str(out), "--workers", "0", "--device", "cpu", "--threads", "1", *extra]
    resume = ["train", "--checkpoint", str(out), *common]
    family = get_family(family_name)
    model = family.build_model(family.parse_config(yaml.safe_load(config.read_text())), family.required)
    keys = {name: set(net.state_dict()) for name, net in model.networks().items()}
    folder = Folder(out, keys, original_keys, STEPS_PER_EPOCH, epoch_key)

    assert main(["train", "--config", str(config), *common, "--max-steps", "2"]) == 0  # imports done here
    began = time.monotonic()
    pid = _run_child([*resume, "--max-steps", "2"], logs / "second.txt")
    assert _wait(pid, logs / "second.txt") == 0, (logs / "second.txt").read_text()
    segment_seconds = time.monotonic() - began
    folder.check()
    assert folder.newest() == 4

    rng = random.Random(20261203)
    killed_kinds = set()
    for run, kind in enumerate(KINDS):
        before = folder.newest()
        steps = rng.randint(1, 3) if kind == "timed" else 3
        log = logs / f"{run:02d}-{kind}.txt"
        if kind == "timed":
            pid = _run_child([*resume, "--max-steps", str(steps)], log)
            time.sleep(rng.uniform(0, 0.9 * segment_seconds))
            os.kill(pid, signal.SIGKILL)
        else:
            pid = _run_child([*resume, "--max-steps", str(steps)], log, kind, 1, rng.randrange(2**31))
        if checked_segment(pid, log, folder, before, steps):
            killed_kinds.add(kind)
    assert {"while-writing", "before-rename", "after-rename"} <= killed_kinds

    finish_the_epoch(resume, out, logs, folder)
