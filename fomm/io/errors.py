"""The one error type of ``fomm.io``."""

from __future__ import annotations

from ..errors import FommError


class MediaError(FommError, ValueError):
    """A media path is missing, unreadable or of the wrong kind.

    The message names the file, the problem and the fix, so the CLI can show it as is.
    """
