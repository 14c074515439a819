"""Datasets, augmentation and synthetic data (the part metrics on synthetic data are in
:mod:`fomm.evaluation.parts`)."""

from fomm.data.synthetic import (
    SyntheticConfig,
    SyntheticDatasetSummary,
    SyntheticVideo,
    Tracks,
    generate_video,
    load_tracks,
    make_synthetic_dataset,
    save_tracks,
)

__all__ = [
    "SyntheticConfig",
    "SyntheticDatasetSummary",
    "SyntheticVideo",
    "Tracks",
    "generate_video",
    "load_tracks",
    "make_synthetic_dataset",
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
