"""The keys of ``fomm live`` and the ``--commands`` schedule, free of heavy imports so that the CLI can
describe them in ``fomm --help`` without loading PyTorch or video code."""

from __future__ import annotations

from ..errors import FommError

RECALIBRATE, NEXT_SOURCE, OVERLAY, QUIT = "x", "n", "o", "q"
COMMANDS = {RECALIBRATE: "recalibrate the neutral pose", NEXT_SOURCE: "next source image",
            OVERLAY: "toggle the overlay", QUIT: "quit"}


class CommandError(FommError, ValueError):
    """An unknown live command, or a badly written command schedule."""


def check_command(command: str) -> str:
    if command not in COMMANDS:
        raise CommandError(f"unknown live command {command!r}; use one of: "
                           + ", ".join(f"{k} ({v})" for k, v in COMMANDS.items()))
    return command


def parse_schedule(text: str) -> dict[int, list[str]]:
    """``"10:x,25:n"`` -> {10: ["x"], 25: ["n"]}: commands applied at camera frame indices."""
    schedule: dict[int, list[str]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        index, sep, command = item.partition(":")
        if not sep or not index.isdigit():
            raise CommandError(f"bad command schedule item {item!r}; write FRAME:KEY items such as 10:x,25:n")
        schedule.setdefault(int(index), []).append(check_command(command))
    return schedule
