"""Pieces shared by the subcommands: errors shown as one line, the output summary."""

from __future__ import annotations

import argparse
from contextlib import contextmanager

from ..animation import AnimationError
from ..api import select_device
from ..checkpoints import CheckpointError
from ..config import ConfigError
from ..data.datasets import DatasetError
from ..io import MediaError
from ..training.trainer import TrainingError
from ..training.vgg import VGGWeightsError


class CLIError(Exception):
    """An error shown to the user as one line, with a non-zero exit."""


# Library errors whose message is already written for the user.
USER_ERRORS: tuple[type[BaseException], ...] = (
    AnimationError, CheckpointError, ConfigError, DatasetError, MediaError, TrainingError, VGGWeightsError,
    FileNotFoundError, FileExistsError)


@contextmanager
def user_errors():
    """Turn library errors into :class:`CLIError` (one clear line, exit 2)."""
    try:
        yield
    except CLIError:
        raise
    except USER_ERRORS as exc:
        raise CLIError(str(exc)) from exc


def device_from_arg(text: str | None):
    """The torch device for ``--device`` (None or 'auto': CUDA, then MPS, then CPU), or a CLIError."""
    try:
        return select_device(text)
    except RuntimeError as exc:  # unavailable or misspelt device
        raise CLIError(f"--device {text}: {str(exc).splitlines()[0]}") from None


def summary(frames: int, seconds: float, path) -> str:
    """The one-line summary that ends every long job."""
    fps = frames / seconds if seconds > 0 else float("inf")
    return f"{frames} frames in {seconds:.1f} s ({fps:.1f} fps) -> {path}"


def _checked(kind, text: str, ok, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _checked(int, text, lambda v: v > 0, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _checked(int, text, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    return _checked(float, text, lambda v: v > 0, "a positive number")
