"""The output folder of a training run (``--out``): what a run leaves in it, when a folder may take a
new run, and the tidying before a run goes on in it.

A folder takes a new run when it is new or empty, when it is the run being resumed, when it is a
fomm run folder that holds no checkpoint and no finished epoch (a run that failed before it had
anything to keep: the corrected rerun needs no ``--overwrite``), or with ``overwrite`` when it is a
previous fomm run's folder, whose run files are then removed. A folder holding anything else, or one
of the run's inputs, is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..io.outputs import (
    PARTIAL_PATTERN,
    OutputError,
    check_folder_output,
    clear_folder,
    foreign_entries,
    mark_folder,
)
from .logs import LOG_FILE, drop_log_lines_from

# What a run leaves in its output folder (removed by --overwrite; nothing else is touched).
RUN_FILES = (LOG_FILE, "config.yaml", "*-checkpoint.pth.tar", "events.out.tfevents.*", "train-vis")


def _has_nothing_to_resume(out: Path) -> bool:
    log = out / LOG_FILE
    return not any(out.glob("*-checkpoint.pth.tar")) and not (log.exists() and log.read_text().strip())


def check_run_folder(out: str | Path, *, resuming: bool, overwrite: bool,
                     inputs: Iterable[str | Path | None] = ()) -> bool:
    """Refuse an ``out`` the run may not use (see the module's rules), writing nothing: called before
    the data is read, so that a wrong folder fails first. True when ``out`` holds a run to replace."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder")
    if resuming or not (out.is_dir() and any(out.iterdir())):
        return False
    unfinished = not foreign_entries(out, RUN_FILES) and _has_nothing_to_resume(out)
    if not overwrite and not unfinished:
        raise OutputError(f"--out {out} is not empty: give a new folder, resume with --checkpoint {out}, or "
                          "pass --overwrite to replace the previous run")
    check_folder_output(out, overwrite=True, inputs=inputs, legacy=RUN_FILES, option="--out")
    return True


def prepare_run_folder(out: str | Path, *, resuming: bool, overwrite: bool,
                       inputs: Iterable[str | Path | None] = ()) -> Path:
    """Make ``out`` ready for the run (see the module's rules) and mark it as fomm's."""
    out = Path(out)
    if check_run_folder(out, resuming=resuming, overwrite=overwrite, inputs=inputs):
        clear_folder(out, (*RUN_FILES, PARTIAL_PATTERN))
    elif resuming and out.is_dir():
        return out
    out.mkdir(parents=True, exist_ok=True)
    mark_folder(out, "fomm train")
    return out


def tidy_run_folder(out: Path, epoch: int) -> None:
    """Before training on in ``out`` from ``epoch``: remove the temporary files of checkpoint saves that
    a kill interrupted, and the log lines of epochs from ``epoch`` on."""
    for stale in Path(out).glob(".*-checkpoint.pth.tar.partial*"):
        stale.unlink(missing_ok=True)
    drop_log_lines_from(out, epoch)


__all__ = ["RUN_FILES", "check_run_folder", "prepare_run_folder", "tidy_run_folder"]
