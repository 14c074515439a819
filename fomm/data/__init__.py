"""Datasets, augmentation and synthetic data."""

from fomm.data.synthetic import (
    PartPositionError,
    SyntheticConfig,
    SyntheticDatasetSummary,
    SyntheticVideo,
    Tracks,
    generate_video,
    load_tracks,
    make_synthetic_dataset,
    measure_part_positions,
    part_position_error,
    save_tracks,
)

__all__ = [
    "PartPositionError",
    "SyntheticConfig",
    "SyntheticDatasetSummary",
    "SyntheticVideo",
    "Tracks",
    "generate_video",
    "load_tracks",
    "make_synthetic_dataset",
    "measure_part_positions",
    "part_position_error",
    "save_tracks",
]
