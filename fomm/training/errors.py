"""The error of training that cannot start or go on."""

from __future__ import annotations

from ..errors import FommError


class TrainingError(FommError, RuntimeError):
    """Training cannot start or go on as asked; the message says why and what to change."""


__all__ = ["TrainingError"]
