"""Entry point: ``fomm <command> ...``. Each command module exposes ``add_parser(subparsers)``
which registers its parser and sets ``func`` to a callable taking the parsed args."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from .common import CLIError

COMMANDS = ("demo", "animate", "crop", "keypoints", "app", "live", "train", "reconstruct", "synth", "convert",
            "info", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fomm", description="Animate a still image with the motion of a driving video "
        "(First Order Motion Model).")
    parser.add_argument("--version", action="version", version=f"fomm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{name}":
                continue  # command not built in this version
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"fomm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fomm {args.command}: interrupted", file=sys.stderr)
        return 130
