"""The error of training that cannot start or go on."""

from __future__ import annotations

from ..words import WordedError


class TrainingError(WordedError, RuntimeError):
    """Training cannot start or go on as asked; the message says why and what to change (a function of
    the caller's :class:`~fomm.words.Vocabulary` when the fix is an option: ``--precision bf16`` on the
    command line, ``precision='bf16'`` from Python)."""


class NonFiniteLossError(TrainingError):
    """A loss became NaN or inf; ``applied`` says whether a part of the step was applied before it was
    found (the discriminator's loss comes after the generator's update)."""

    def __init__(self, message: str, applied: bool = False):
        super().__init__(message)
        self.applied = applied


__all__ = ["NonFiniteLossError", "TrainingError"]
