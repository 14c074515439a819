"""What training needs to know per model family and stage: the trainer class (FOMM's
:class:`~fomm.training.trainer.Trainer`, :class:`~fomm.training.families.tpsmm.TPSMMTrainer`,
:class:`~fomm.training.families.mraa.MRAATrainer`)
and the training dataset of a config (its frame size checked by the family's own rules)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ...config import Config, ConfigError
from ...families import config_family
from ..errors import TrainingError

STAGES = ("reconstruction", "avd")


def trainer_class(config: Any, stage: str = "reconstruction") -> type:
    """The trainer of ``config``'s family for ``stage`` (``reconstruction`` or ``avd``)."""
    if stage not in STAGES:
        raise TrainingError(f"unknown training stage {stage!r}; use one of {', '.join(STAGES)}")
    family = config_family(config).name
    if stage == "avd":
        from ..avd import AVDTrainer

        return AVDTrainer
    if family == "fomm":
        from ..trainer import Trainer

        return Trainer
    if family == "tpsmm":
        from .tpsmm import TPSMMTrainer

        return TPSMMTrainer
    if family == "mraa":
        from .mraa import MRAATrainer

        return MRAATrainer
    raise TrainingError(f"fomm train has no trainer for the {family} family")


def frame_shape(config: Any) -> list[int]:
    """The training frame shape: ``dataset_params.frame_shape``, or the family's default size."""
    shape = config.dataset_params.frame_shape
    if shape:
        return list(shape)
    size = getattr(config, "frame_size", 256)
    return [size, size, 3]


def training_dataset(config: Any, is_train: bool = True):
    """The augmented training dataset ``config.dataset_params`` describes, validated first (for FOMM
    :func:`fomm.data.datasets.make_dataset`; for the other families the same checks, the frame size
    by the family's network rules)."""
    from ...data.datasets import FramesDataset, make_dataset, validate_dataset

    if isinstance(config, Config):
        return make_dataset(config, is_train=is_train)
    params, shape = config.dataset_params, frame_shape(config)
    validate_size = _size_check(config)
    sizes = {shape[0], shape[1]}
    crop = params.augmentation_params.crop_param
    if crop is not None:
        sizes |= {int(crop.size[0]), int(crop.size[1])}
    for size in sorted(sizes):
        try:
            validate_size(config, size)
        except ConfigError as exc:
            raise ConfigError(f"dataset_params.frame_shape {shape}: {exc}") from exc
    validate_dataset(params.root_dir, shape, None, id_sampling=params.id_sampling,
                     splits=("train" if is_train else "test",))
    return FramesDataset(params.root_dir, shape, id_sampling=params.id_sampling, is_train=is_train,
                         pairs_list=params.pairs_list,
                         augmentation_params=params.augmentation_params if is_train else None)


def _size_check(config: Any):
    family = config_family(config).name
    if family == "tpsmm":
        from ...families.tpsmm.config import validate_frame_size

        return validate_frame_size
    if family == "mraa":
        from ...models.mraa.config import validate_mraa_frame_size

        return validate_mraa_frame_size
    return lambda config, size: None


def with_frame_shape(config: Any) -> Any:
    """``config`` with its dataset's frame shape filled in (the published TPSMM configs leave it null)."""
    if config.dataset_params.frame_shape:
        return config
    return dataclasses.replace(config, dataset_params=dataclasses.replace(config.dataset_params,
                                                                          frame_shape=frame_shape(config)))


__all__ = ["STAGES", "frame_shape", "trainer_class", "training_dataset", "with_frame_shape"]
