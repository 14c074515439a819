"""The sizes fomm refuses, in one place.

Each limit keeps one input from costing memory out of proportion to its file: a 20 KB PNG can
declare 13000x13000 pixels (500 MB decoded), ``--size 100000`` asks the networks for 10^10 pixels a
frame. Beyond a limit, fomm refuses before any work, in one line that names the limit and the
environment variable that raises it (read at each check, so it can be set per command)::

    FOMM_MAX_IMAGE_PIXELS=200000000 fomm animate big.png driving.mp4 --crop auto --paste-back

| limit                        | default       | raised by                 |
|------------------------------|---------------|---------------------------|
| pixels per image/video frame | 100 MP        | FOMM_MAX_IMAGE_PIXELS     |
| side the networks run at     | 2048 px       | FOMM_MAX_FRAME_SIZE       |
| frames queued for the encoder| 256 MiB       | FOMM_MAX_QUEUE_BYTES      |

The pixel limit covers what fomm writes too (a pasted-back photo, a crop square padded beyond its
image), so peak memory is bounded by it whatever the video's length (see ``benchmarks/memory.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import FommError


class LimitError(FommError, ValueError):
    """An input or an option is over one of fomm's size limits; the message names the variable that raises it."""


@dataclass(frozen=True)
class Limit:
    """One size limit: ``default`` unless the environment variable ``env`` says otherwise."""

    env: str
    default: int
    unit: str  # as shown in messages: "pixels", "px", "bytes"

    @property
    def value(self) -> int:
        text = os.environ.get(self.env, "").strip().replace("_", "")
        if not text:
            return self.default
        try:
            value = int(float(text))
        except ValueError:
            raise LimitError(f"{self.env}={os.environ[self.env]!r} is not a number; set it to a whole "
                             f"number of {self.unit} (default {self.default})") from None
        if value < 1:
            raise LimitError(f"{self.env}={os.environ[self.env]!r} must be at least 1 (default {self.default})")
        return value

    def check(self, amount: int, what: str = "") -> None:
        """Raise :class:`LimitError` if ``amount`` is over the limit; ``what`` names what was measured
        (``"big.png (13000x13000)"``)."""
        limit = self.value
        if amount > limit:
            prefix = f"{what}: " if what else ""
            raise LimitError(f"{prefix}{amount:,} {self.unit} is over fomm's limit of {limit:,} {self.unit}; "
                             f"set {self.env}={amount} (or more) to allow it")


IMAGE_PIXELS = Limit("FOMM_MAX_IMAGE_PIXELS", 100_000_000, "pixels")
FRAME_SIZE = Limit("FOMM_MAX_FRAME_SIZE", 2048, "px")
QUEUE_BYTES = Limit("FOMM_MAX_QUEUE_BYTES", 256 << 20, "bytes")


def check_pixels(width: int, height: int, what: str) -> None:
    """Refuse an image, frame or crop of ``width`` x ``height`` over :data:`IMAGE_PIXELS`."""
    IMAGE_PIXELS.check(int(width) * int(height), f"{what} ({int(width)}x{int(height)})")


def check_frame_size(size: int, what: str = "") -> None:
    """Refuse a square frame side over :data:`FRAME_SIZE` (the networks' input, a crop's side)."""
    FRAME_SIZE.check(int(size), what)
