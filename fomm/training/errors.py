"""The error of training that cannot start or go on."""

from __future__ import annotations

from ..errors import FommError


class TrainingError(FommError, RuntimeError):
    """Training cannot start or go on as asked; the message says why and what to change."""


class NonFiniteLossError(TrainingError):
    """A loss became NaN or inf; ``applied`` says whether a part of the step was applied before it was
    found (the discriminator's loss comes after the generator's update)."""

    def __init__(self, message: str, applied: bool = False):
        super().__init__(message)
        self.applied = applied


__all__ = ["NonFiniteLossError", "TrainingError"]
