"""``log.txt`` of a training run, in the original logger's format: one line of mean losses per finished
epoch, ``00000003) perceptual - 81.23456; equivariance_value - 0.12345; ...``, the original's columns
first, then ours."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ..io.paths import atomic_path

LOG_FILE = "log.txt"
# The order of the columns of log.txt: the original's, then our extension.
LOSS_ORDER = ("perceptual", "gen_gan", "feature_matching", "equivariance_value", "equivariance_jacobian",
              "reconstruction_l1", "keypoint_separation", "disc_gan")
_LOG_EPOCH = re.compile(r"^(\d+)\) ")


def format_log_line(epoch: int, losses: Mapping[str, float]) -> str:
    """One line of ``log.txt`` as the original logger writes it:
    ``00000003) perceptual - 81.23456; equivariance_value - 0.12345; ...``."""
    names = sorted(losses, key=lambda n: (LOSS_ORDER.index(n) if n in LOSS_ORDER else len(LOSS_ORDER), n))
    return f"{epoch:08d}) " + "; ".join(f"{name} - {losses[name]:.5f}" for name in names)


def append_log_line(run_dir: Path, epoch: int, values: Mapping[str, float]) -> None:
    """Add epoch ``epoch``'s line to the run's ``log.txt``."""
    with (Path(run_dir) / LOG_FILE).open("a") as log:
        print(format_log_line(epoch, values), file=log)


def drop_log_lines_from(run_dir: Path, epoch: int) -> None:
    """Remove the lines of epochs ``epoch`` and later (a killed run may have logged an epoch its last
    checkpoint does not hold), so that ``log.txt`` has one line per finished epoch of the run."""
    log = Path(run_dir) / LOG_FILE
    if not log.exists():
        return
    lines = log.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not ((m := _LOG_EPOCH.match(line)) and int(m.group(1)) >= epoch)]
    if kept != lines:
        with atomic_path(log) as tmp:
            tmp.write_text("".join(kept))


__all__ = ["LOG_FILE", "LOSS_ORDER", "append_log_line", "drop_log_lines_from", "format_log_line"]
