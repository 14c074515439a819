"""Ctrl-C during training: the first one asks for a clean stop (with a checkpoint of the exact position)
after the current step, a second one aborts."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

logger = logging.getLogger("fomm.training.trainer")  # where the users of Trainer look for its messages


class InterruptFlag:
    """The first Ctrl-C asks for a clean stop after the current step; a second one aborts.

    A second SIGINT within ``DEBOUNCE_S`` counts as the same Ctrl-C: under torchrun each worker gets
    the terminal's SIGINT and then the one the launcher forwards.
    """

    DEBOUNCE_S = 2.0

    def __init__(self):
        self.requested = False
        self._first = 0.0
        self._previous = None
        self._pid = os.getpid()

    def _handle(self, signum, frame):
        if os.getpid() != self._pid:
            return  # a DataLoader worker forked with this handler: the main process does the stopping
        if self.requested:
            if time.monotonic() - self._first < self.DEBOUNCE_S:
                return
            raise KeyboardInterrupt
        self.requested = True
        self._first = time.monotonic()
        logger.warning("interrupted: stopping after this step and writing a checkpoint (Ctrl-C again to abort)")

    def __enter__(self) -> InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


__all__ = ["InterruptFlag"]
