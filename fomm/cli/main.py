"""Entry point: ``fomm <command> ...``. Each command module exposes ``add_parser(subparsers)``
which registers its parser and sets ``func`` to a callable taking the parsed args.

Only the module of the command being run is imported (all of them for ``fomm --help``), and each
imports its heavy modules inside ``run``: ``fomm info`` loads no video, training or web code."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import signal
import sys
import traceback
from collections.abc import Sequence

from .. import __version__
from .common import CLIError, stop_signals_as_interrupt

COMMANDS = ("demo", "animate", "batch", "crop", "keypoints", "app", "live", "train", "reconstruct", "synth", "convert",
            "info", "export")


class Parser(argparse.ArgumentParser):
    """argparse with its errors in one line, as fomm's own: ``fomm animate: error: argument --size: ...``
    and where to read the options, instead of the usage block first."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    parser = Parser(
        prog="fomm", description="Animate a still image with the motion of a driving video "
        "(First Order Motion Model).")
    parser.add_argument("--version", action="version", version=f"fomm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{name}":
                continue  # command not built in this version
            raise
        module.add_parser(sub)
    return parser


def _commands_needed(argv: Sequence[str]) -> Sequence[str]:
    """The command named on the command line, alone (its parser is all that parsing it needs); every
    command when none is named (``fomm --help``) or the name is unknown (argparse lists them)."""
    for arg in argv:
        if arg in COMMANDS:
            return (arg,)
        if not arg.startswith("-"):
            break
    return COMMANDS


def _release_quietly(exc: BaseException) -> None:
    """Free what the interrupted frames hold, with errors of ``__del__`` silenced: a signal can strike inside
    a constructor (tqdm's, say), and the half-made object's ``__del__`` then fails ("Exception ignored in
    ..." and a traceback on stderr) - noise after an interrupt, not the user's business."""
    hook, sys.unraisablehook = sys.unraisablehook, lambda _unraisable: None
    try:
        traceback.clear_frames(exc.__traceback__)
        exc.__traceback__ = None
        gc.collect()
    finally:
        sys.unraisablehook = hook


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_commands_needed(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        with stop_signals_as_interrupt():
            return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"fomm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM / SIGHUP (Stopped): exit 128 + the signal
        _release_quietly(exc)
        signum = getattr(exc, "signum", signal.SIGINT)
        how = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
        print(f"fomm {args.command}: interrupted{how}", file=sys.stderr)
        return 128 + signum
