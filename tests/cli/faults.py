"""Run ``fomm`` with a fault injected at one stage of the pipeline, as a user's process would meet it.

    python -m tests.cli.faults FAULT[,FAULT...] animate SOURCE DRIVING -o OUT ...

FAULT is ``encode-oserror:N`` (the N-th frame written fails as a full disk would), ``encode-bug:N``
(it fails with an unexpected error, i.e. a bug), ``interrupt:N`` (Ctrl-C inside the N-th generator
forward), ``slow:S`` (every generator forward takes S seconds longer: time to signal the process
mid-run) or ``none``. Decode errors need no injection: the tests give a damaged driving clip.
"""

from __future__ import annotations

import errno
import signal
import sys
import time


def install(spec: str, patch=setattr) -> None:
    """Patch the library as ``spec`` says (see the module docstring); ``patch``: e.g. pytest's
    ``monkeypatch.setattr``, to undo it after a test."""
    from fomm.io.writer import VideoWriter
    from fomm.models.generator import OcclusionAwareGenerator

    for fault in filter(None, spec.split(",")):
        name, _, value = fault.partition(":")
        if name == "none":
            continue
        if name == "encode-oserror":
            _fail_nth(patch, VideoWriter, "write", int(value), lambda: OSError(errno.ENOSPC, "No space left on device"))
        elif name == "encode-bug":
            _fail_nth(patch, VideoWriter, "write", int(value), lambda: RuntimeError("injected bug in the encoder"))
        elif name == "interrupt":
            _fail_nth(patch, OcclusionAwareGenerator, "decode", int(value), KeyboardInterrupt)
        elif name == "slow":
            _slow(patch, OcclusionAwareGenerator, "decode", float(value))
        else:
            raise SystemExit(f"unknown fault {fault!r}")


def _fail_nth(patch, cls, method: str, n: int, error) -> None:
    real = getattr(cls, method)
    calls = [0]

    def failing(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            raise error()
        return real(self, *args, **kwargs)

    patch(cls, method, failing)


def _slow(patch, cls, method: str, seconds: float) -> None:
    real = getattr(cls, method)

    def slow(self, *args, **kwargs):
        time.sleep(seconds)
        return real(self, *args, **kwargs)

    patch(cls, method, slow)


if __name__ == "__main__":
    # Ctrl-C as in a terminal: a test runner started in the background (``cmd &``) passes SIGINT on ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    install(sys.argv[1])
    from fomm.cli.main import main

    sys.exit(main(sys.argv[2:]))
