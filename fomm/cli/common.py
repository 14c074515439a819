"""Pieces shared by the subcommands: errors shown as one line, the output summary, argument types, the
options that choose and place a model."""

from __future__ import annotations

import argparse
import ctypes
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..api import DEFAULT_MODEL, load_model, select_device
from ..errors import FommError

if TYPE_CHECKING:
    from ..model import FOMM


class CLIError(Exception):
    """An error shown to the user as one line, with a non-zero exit."""


# Errors whose message is already written for the user.
USER_ERRORS: tuple[type[BaseException], ...] = (FommError, FileNotFoundError, FileExistsError)


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


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0."""
    return _checked(float, text, lambda v: v >= 0, "a number >= 0")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The options that choose and place the model (shared with ``fomm keypoints``)."""
    p.add_argument("--checkpoint", default=DEFAULT_MODEL, metavar="PATH",
                   help="checkpoint file (.pth.tar, .pth, .safetensors) or a preset name; default: the bundled "
                        "model")
    p.add_argument("--config", metavar="NAME|PATH",
                   help="config preset or YAML; default: the one stored in (or inferred from) the checkpoint")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps; default: CUDA, then MPS, then CPU")
    p.add_argument("--align-corners", action=argparse.BooleanOptionalAction, default=None,
                   help="grid_sample semantics; default from the config (on: as the published checkpoints "
                        "were trained; off: what the original code does on PyTorch >= 1.3)")
    p.add_argument("--size", type=positive_int, metavar="PX",
                   help="square frame size the networks run at; default: the model's training size "
                        "(dataset_params.frame_shape of its config, 256 when the checkpoint says nothing)")
    p.add_argument("--fit", choices=("crop", "pad"), default="crop",
                   help="make non-square frames square by cropping the center (default) or padding with black")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="frames per forward pass (default: 16 on a GPU, 4 on the CPU)")


def load_model_from_args(args: argparse.Namespace) -> FOMM:
    device = device_from_arg(args.device)
    return load_model(args.checkpoint, config=args.config, device=device, align_corners=args.align_corners)


M_MMAP_THRESHOLD = -3  # mallopt parameter, from glibc's malloc.h


def steady_memory() -> None:
    """Keep peak memory flat over long videos and allocation cheap (glibc only; a no-op elsewhere).

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so over thousands
    of frames tensors of a few MiB move from fresh mappings to heap arenas that fragment, and the peak
    creeps up (+14% from 60 to 600 frames at 256 px). A fixed threshold above every tensor of a batch
    (256 MiB) keeps them all in the heap from the first batch on: each batch reuses the blocks the
    previous one freed, so the peak stays flat, and no page is faulted in again (measured 10-15% faster
    than small fixed thresholds, which map and zero every large tensor each time).
    This is a process-wide setting, so the command line makes it, never the library.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc
        pass
