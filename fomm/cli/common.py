"""Pieces shared by the subcommands: errors shown as one line, the output summary."""

from __future__ import annotations

from contextlib import contextmanager

from ..checkpoints import CheckpointError
from ..config import ConfigError


class CLIError(Exception):
    """An error shown to the user as one line, with a non-zero exit."""


# Library errors whose message is already written for the user.
USER_ERRORS: tuple[type[BaseException], ...] = (CheckpointError, ConfigError, FileNotFoundError,
                                                FileExistsError)


def register_user_error(exc_type: type[BaseException]) -> None:
    global USER_ERRORS
    USER_ERRORS = (*USER_ERRORS, exc_type)


@contextmanager
def user_errors():
    """Turn library errors into :class:`CLIError` (one clear line, exit 2)."""
    try:
        yield
    except CLIError:
        raise
    except USER_ERRORS as exc:
        raise CLIError(str(exc)) from exc


def summary(frames: int, seconds: float, path) -> str:
    """The one-line summary that ends every long job."""
    fps = frames / seconds if seconds > 0 else float("inf")
    return f"{frames} frames in {seconds:.1f} s ({fps:.1f} fps) -> {path}"
