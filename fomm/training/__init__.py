"""Self-supervised training of FOMM: losses, the equivariance transform, the trainer, DDP helpers, and
one run from a config and paths (:func:`train`, :func:`prepare_training`)."""

from .errors import TrainingError
from .run import prepare_training, train
from .trainer import Trainer, TrainResult
from .transforms import Transform

__all__ = ["TrainResult", "Trainer", "TrainingError", "Transform", "prepare_training", "train"]
