"""Self-supervised training of FOMM: losses, the equivariance transform, the trainer, DDP helpers."""

from .trainer import Trainer, TrainResult, train
from .transforms import Transform

__all__ = ["TrainResult", "Trainer", "Transform", "train"]
