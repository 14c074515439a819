"""Animation at scale: ``fomm.batch.run(manifest, out_dir, ...)`` animates thousands of (source, driving)
pairs, resumably, on several worker processes, shards of a launch, or a Ray cluster.

    summary = fomm.batch.run("pairs.csv", "out/", workers=4, defaults={"mode": "relative"})
    print(summary)   # 12 rows: 12 done, 0 skipped, 0 failed; 1200 frames in 61.0 s (19.7 frames/s) -> out/

The same engine runs ``fomm reconstruct`` (:func:`reconstruct_dataset`): a row is then a test video.

The names below are imported on first use, so that ``fomm batch --help`` loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "BatchError": ".engine", "BatchProgress": ".engine", "BatchSummary": ".engine", "run": ".engine",
    "ManifestError": ".manifest", "Row": ".manifest", "dataset_pairs": ".manifest", "read_manifest": ".manifest",
    "Shard": ".shard", "ShardError": ".shard",
    "Record": ".status", "read_records": ".status",
    "AnimateTask": ".runner", "Reconstruction": ".reconstruct", "reconstruct_dataset": ".reconstruct",
}

__all__ = [
    "AnimateTask", "Reconstruction", "reconstruct_dataset",
    "BatchError", "BatchProgress", "BatchSummary", "ManifestError", "Record", "Row", "Shard", "ShardError",
    "dataset_pairs", "read_manifest", "read_records", "run",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:
    from .engine import BatchError, BatchProgress, BatchSummary, run
    from .manifest import ManifestError, Row, dataset_pairs, read_manifest
    from .reconstruct import Reconstruction, reconstruct_dataset
    from .runner import AnimateTask
    from .shard import Shard, ShardError
    from .status import Record, read_records
