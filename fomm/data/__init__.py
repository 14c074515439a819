"""Datasets, augmentation and synthetic data."""

from fomm.data.synthetic import (
    MeasuredParts,
    PartPositionError,
    SyntheticConfig,
    SyntheticDatasetSummary,
    SyntheticVideo,
    Tracks,
    generate_video,
    load_tracks,
    make_synthetic_dataset,
    measure_part_positions,
    measure_parts,
    part_masks,
    part_position_error,
    save_tracks,
)

__all__ = [
    "MeasuredParts",
    "PartPositionError",
    "SyntheticConfig",
    "SyntheticDatasetSummary",
    "SyntheticVideo",
    "Tracks",
    "generate_video",
    "load_tracks",
    "make_synthetic_dataset",
    "measure_part_positions",
    "measure_parts",
    "part_masks",
    "part_position_error",
    "save_tracks",
]

# Datasets and augmentation (fomm/data/datasets.py, fomm/data/augmentation.py).
from fomm.data.augmentation import Augmentation  # noqa: E402
from fomm.data.datasets import (  # noqa: E402
    DatasetError,
    DatasetRepeater,
    DatasetSummary,
    FramesDataset,
    PairedDataset,
    VideoFrames,
    make_dataset,
    validate_dataset,
)

__all__ += [
    "Augmentation",
    "DatasetError",
    "DatasetRepeater",
    "DatasetSummary",
    "FramesDataset",
    "PairedDataset",
    "VideoFrames",
    "make_dataset",
    "validate_dataset",
]
