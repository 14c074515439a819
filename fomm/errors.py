"""The base of every error fomm raises for a user's mistake.

Each error's message names the problem and the fix, so the CLI and the app show it as is; anything
else that escapes is a bug. Subclasses keep their historical builtin base too (``ValueError`` for bad
input, ``RuntimeError`` for a run that cannot go on) so that existing ``except`` clauses keep working.
"""

from __future__ import annotations


class FommError(Exception):
    """A user-facing error: bad input, a missing file, options that contradict each other."""
