"""The rows of a batch: a manifest (CSV or JSONL) or the paper's random cross-identity pairs of a dataset.

A row names a ``source`` (an image, or a video whose first frame is taken, as the paper's animation
of test videos does) and a ``driving`` video, optionally its ``output`` and per-row options: any field
of :class:`fomm.AnimationOptions` (``mode``, ``crop``, ``paste_back``/``paste-back``, ...) and
``checkpoint``. Row values override the defaults given for the whole batch; both are validated by
``AnimationOptions`` itself, so a batch accepts exactly what ``fomm animate`` accepts.

The original code's ``pairs_list`` CSV (columns ``distance,source,driving,frame``, names relative to
a dataset's test folder) is a manifest too: ``distance`` and ``frame`` are read and ignored.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FommError

ORIGINAL_PAIRS_COLUMNS = ("distance", "frame")  # in the original pairs lists; not used by its animation either
BATCH_COLUMNS = ("source", "driving", "output", "checkpoint")
CROP_OPTIONS = ("crop", "driving_crop")  # "auto", "none" or a box X,Y,W,H
DEFAULT_SUFFIX = ".mp4"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ManifestError(FommError, ValueError):
    """The manifest cannot be read as a whole (missing columns, unknown options, clashing outputs)."""


@dataclass(frozen=True)
class Row:
    """One job of a batch, as the manifest gives it (paths resolved, values typed, not yet validated)."""

    index: int  # 0-based position among the manifest's rows: the shard split and the status file use it
    source: Path
    driving: Path
    output: Path
    options: Mapping[str, Any] = field(default_factory=dict)  # AnimationOptions fields set by this row
    checkpoint: str | None = None  # None: the batch's

    @property
    def key(self) -> str:
        """The row's identity in the status file: its output path (unique within a batch)."""
        return str(self.output)

    def cost(self) -> int:
        """A cheap stand-in for the job's length, to start the longest jobs first: the driving video's
        size in bytes (of all its frames for a folder); 0 when it cannot be read (the job fails fast)."""
        try:
            if self.driving.is_dir():
                return sum(p.stat().st_size for p in self.driving.iterdir() if p.is_file())
            return self.driving.stat().st_size
        except OSError:
            return 0


def option_fields() -> dict[str, str]:
    """AnimationOptions' field names and their annotations (as written, e.g. ``"bool | None"``)."""
    from ..animation.options import AnimationOptions

    return {f.name: str(f.type) for f in dataclasses.fields(AnimationOptions)}


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """A manifest value as the option's type: CSV cells are text (``true``, ``4``, ``0.5``, ``10,20,64,64``)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    lower = text.lower()
    if "bool" in annotation and lower in _TRUE + _FALSE:
        return lower in _TRUE
    if "int" in annotation and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if "float" in annotation and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?", lower):
        return float(text)
    if name in CROP_OPTIONS and "," in text:
        from ..crop.box import parse_box

        try:
            return parse_box(text)
        except FommError:
            return text  # AnimationOptions names the problem, for this row alone
    return text


def typed_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Option values as AnimationOptions takes them (text from a CSV cell or the command line typed);
    names that are no option are kept, for AnimationOptions to refuse by name."""
    options = option_fields()
    return {k: _coerce(k, v, options[k]) if k in options else v for k, v in values.items()}


def _canonical(name: str) -> str:
    return name.strip().replace("-", "_")


def check_columns(columns: Iterable[str], where: str) -> None:
    """Refuse a column that is neither a batch column nor an option, naming the ones accepted."""
    options = option_fields()
    known = set(BATCH_COLUMNS) | set(ORIGINAL_PAIRS_COLUMNS) | set(options)
    unknown = [c for c in columns if _canonical(c) not in known]
    if unknown:
        raise ManifestError(f"{where}: unknown column(s) {', '.join(unknown)}; a manifest has source, driving and "
                            f"optionally output, checkpoint and options of fomm animate: {', '.join(sorted(options))}")


def _records(path: Path) -> list[dict[str, Any]]:
    """The manifest's rows as dicts: a CSV with a header, or JSONL (one object per line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"manifest {path} not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path} ({exc}); give a CSV or JSONL text file") from exc
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{number}: not JSON ({exc.msg}); write one object per line") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{path}:{number}: expected an object like {{\"source\": ..., \"driving\": ...}}")
            rows.append(row)
        return rows
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        return []
    check_columns(reader.fieldnames, str(path))
    return [{k: v for k, v in row.items() if k is not None and v not in (None, "")} for row in reader]


def _resolve(text: Any, root: Path) -> Path:
    path = Path(str(text)).expanduser()
    return path if path.is_absolute() else root / path


def _default_names(pairs: Sequence[tuple[Path, Path]]) -> list[str]:
    """``<source>__<driving>`` per row; where two rows would share a name, a hash of both full paths
    keeps them apart (so a name never depends on the row's position)."""
    names = [f"{s.stem}__{d.stem}" for s, d in pairs]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [name if counts[name] == 1 else f"{name}-{hashlib.sha1(f'{s}|{d}'.encode()).hexdigest()[:8]}"
            for name, (s, d) in zip(names, pairs, strict=True)]


def make_rows(records: Sequence[Mapping[str, Any]], out_dir: Path, root: Path, where: str = "manifest",
              suffix: str = DEFAULT_SUFFIX) -> list[Row]:
    """Rows from manifest records: paths resolved (``source``/``driving`` under ``root``, ``output``
    under ``out_dir``), option values typed, outputs checked to be distinct."""
    options = option_fields()
    for number, record in enumerate(records, 1):
        check_columns(record, f"{where} row {number}")
        missing = [c for c in ("source", "driving") if not record.get(c)]
        if missing:
            raise ManifestError(f"{where} row {number} has no {' or '.join(missing)}; every row needs a source "
                                "image and a driving video")
    pairs = [(_resolve(r["source"], root), _resolve(r["driving"], root)) for r in records]
    names = _default_names(pairs)
    rows, seen = [], {}
    for index, (record, (source, driving), name) in enumerate(zip(records, pairs, names, strict=True)):
        output = _resolve(record["output"], out_dir) if record.get("output") else out_dir / f"{name}{suffix}"
        if output in seen:
            raise ManifestError(f"{where} rows {seen[output] + 1} and {index + 1} both write {output}; give each row "
                                "its own output")
        seen[output] = index
        values = {_canonical(k): v for k, v in record.items()}
        row_options = typed_options({k: v for k, v in values.items() if k in options})
        checkpoint = values.get("checkpoint")
        rows.append(Row(index, source, driving, output, row_options, str(checkpoint) if checkpoint else None))
    return rows


def read_manifest(path: str | Path, out_dir: str | Path, root: str | Path | None = None,
                  suffix: str = DEFAULT_SUFFIX) -> list[Row]:
    """The rows of a CSV or JSONL manifest. Relative ``source``/``driving`` paths start at ``root``
    (default: the manifest's folder, so a dataset's ``pairs_list`` works with ``root`` set to its test
    folder); relative outputs at ``out_dir``; rows without an output get ``<source>__<driving>.mp4``."""
    path = Path(path)
    records = _records(path)
    if not records:
        raise ManifestError(f"manifest {path} has no rows; write a header line and one row per job, e.g. "
                            "source,driving")
    return make_rows(records, Path(out_dir), Path(root) if root is not None else path.parent, str(path),
                     suffix)


def dataset_pairs(dataset_dir: str | Path, out_dir: str | Path, num_pairs: int, seed: int = 0,
                  suffix: str = DEFAULT_SUFFIX) -> list[Row]:
    """The paper's cross-identity animation pairs of a dataset's test split, reproducibly: ``num_pairs``
    (source, driving) pairs drawn with ``seed`` among its first ``num_pairs`` videos, as the original's
    ``PairedDataset`` (:class:`fomm.data.datasets.PairedDataset` draws them)."""
    from ..data.datasets import FramesDataset, PairedDataset

    dataset = FramesDataset(dataset_dir, is_train=False)
    pairs = PairedDataset(dataset, num_pairs, seed=seed).pairs
    entries = dataset.entries
    records = [{"source": str(entries[s].path), "driving": str(entries[d].path)} for d, s in pairs]
    return make_rows(records, Path(out_dir), Path(dataset_dir), f"pairs of {dataset_dir}", suffix)
