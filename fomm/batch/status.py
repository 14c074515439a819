"""The status file of a batch: one JSON line per row result, appended atomically.

Each record is written with a single ``write`` on a file opened ``O_APPEND``, then flushed to disk
(``fsync``), so several processes on one machine can append to the same file and a crash or kill -9
leaves at most one torn last line, which readers skip. The latest record of a row (keyed by its
output path) is its state: ``ok``, ``skipped`` or ``error`` (with the one-line message).

    {"row": 3, "output": "out/a__b.mp4", "status": "ok", "frames": 250, "seconds": 4.1, ...}
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import FommError

try:
    import fcntl
except ImportError:  # Windows: no lock, one batch at a time is then the user's to keep
    fcntl = None

logger = logging.getLogger(__name__)

STATUS_NAME = "batch-status.jsonl"
OK, SKIPPED, ERROR = "ok", "skipped", "error"


@dataclass
class Record:
    """What happened to one row in one run."""

    row: int
    source: str
    driving: str
    output: str
    status: str  # ok | skipped | error
    frames: int = 0
    seconds: float = 0.0
    message: str | None = None  # the error, one line
    bytes: int | None = None  # the output's size when written (a resumed run compares it)
    worker: str | None = None
    time: str | None = None  # UTC, when recorded

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def one_line(message: str) -> str:
    """An error message as one line (the status file and the summary hold one line per row)."""
    return " ".join(str(message).split()) or "failed"


class StatusBusyError(FommError, RuntimeError):
    """Another batch is writing this status file (the same rows would be animated twice at once)."""


class StatusFile:
    """Appends :class:`Record` lines to ``path`` (see the module docstring). One writer at a time: the
    file is locked (``flock``) while open, so a second run of the same batch (or shard) is refused."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise StatusBusyError(f"another fomm batch is writing {self.path}; wait for it to end, or give this "
                                  "run another --status file or --shard") from None
        self._start_clean()

    def _start_clean(self) -> None:
        """After a kill -9 mid-write the file may end inside a line: end it, so the next record is whole."""
        size = os.fstat(self._fd).st_size
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    os.write(self._fd, b"\n")

    def append(self, record: Record) -> None:
        record.time = record.time or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data = (json.dumps(asdict(record), ensure_ascii=False) + "\n").encode()
        written = os.write(self._fd, data)  # one write: a whole line or (after a crash) a torn last one
        if written != len(data):  # only on a full disk or similar; finish the line so the next stays whole
            os.write(self._fd, data[written:])
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StatusFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_records(paths: Iterable[str | Path]) -> list[Record]:
    """Every whole record of the status files, in file order; torn or foreign lines are skipped."""
    records = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            continue
        for number, line in enumerate(lines, 1):
            try:
                records.append(Record.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, AttributeError):
                if line.strip():
                    logger.debug("%s:%d: skipping a torn or foreign line", path, number)
    return records


def latest(records: Iterable[Record]) -> dict[str, Record]:
    """Each row's latest record, by output path; a ``skipped`` record does not hide the ``ok`` before it."""
    state: dict[str, Record] = {}
    for record in records:
        previous = state.get(record.output)
        if record.status == SKIPPED and previous is not None and previous.status == OK:
            continue
        state[record.output] = record
    return state


def status_files(folder: Path, name: str = STATUS_NAME) -> list[Path]:
    """The status files of a batch folder: the local one and those of its shards (``batch-status*.jsonl``)."""
    stem, suffix = os.path.splitext(name)
    return sorted(folder.glob(f"{stem}*{suffix}")) if folder.is_dir() else []
