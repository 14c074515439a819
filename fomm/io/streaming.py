"""Streaming plumbing: iterate in a background thread with a bounded queue (decoding ahead of the
networks), and write in a background thread (encoding behind them). Memory stays bounded by the
queue sizes, whatever the length of the video, and errors cross back to the caller's thread.

Shutdown order: a thread uses a container (the reader's or the writer's), so it is stopped and
joined before that container closes, on success, on error and on Ctrl-C. Both helpers join their
thread when they end (``prefetch``: when the generator is exhausted, raises or is closed, so use it
with ``contextlib.closing``; ``BackgroundWriter``: when its ``with`` block ends), and a Ctrl-C that
arrives during the join is held back until the thread has finished, then raised.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress

import numpy as np

_END = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetch(items: Iterable, maxsize: int = 2, name: str = "fomm-prefetch") -> Iterator:
    """Iterate ``items`` in a background thread, at most ``maxsize`` items ahead of the consumer.

    The producer's exceptions are raised in the consumer. Closing the generator (``close()``, or
    leaving a ``with contextlib.closing(prefetch(...))`` block) stops the producer after the item it is
    working on and waits for its thread to end, so the caller may then close what ``items`` reads from.
    """
    channel: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                channel.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 (handed over to the consumer)
            put(_Failure(exc))
        finally:
            # Finish the producer's generators here, in this thread, before the consumer goes on to
            # close what they read from (not later, in whatever thread collects them).
            close = getattr(iterator, "close", None)
            if close is not None:
                with suppress(Exception):
                    close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = channel.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        join(worker)


def join(thread: threading.Thread) -> None:
    """Wait for ``thread`` to end, even through Ctrl-C: a KeyboardInterrupt arriving meanwhile is
    raised once the thread has ended (so nothing closes a container the thread still uses)."""
    interrupted: KeyboardInterrupt | None = None
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt as exc:
            interrupted = exc  # the same exception raised again: a SIGTERM stays a SIGTERM
    if interrupted is not None:
        raise interrupted


class BackgroundWriter:
    """Hands frames to ``writer.write`` in a background thread (bounded queue), so that encoding
    overlaps with the networks. Use inside the writer's own context::

        with VideoWriter(path, fps) as writer, BackgroundWriter(writer) as background:
            background.write(frame)

    The queue holds at most ``maxsize`` frames and at most ``max_bytes`` of them (default
    :data:`fomm.limits.QUEUE_BYTES`; one frame always fits), so full-size photos (a paste-back into
    64 MP) queue a few frames, not sixteen: memory is bounded by bytes, not by frame count.

    On an exception (or Ctrl-C) in the body, queued frames are dropped, the thread ends after the
    frame it is writing and is joined, and the error propagates, so the writer (whose ``with`` block
    encloses this one) discards its partial output after the thread has stopped using it. An error in
    the thread is raised in the caller at the next ``write`` or when the block ends.
    """

    def __init__(self, writer, maxsize: int = 16, max_bytes: int | None = None):
        from ..limits import QUEUE_BYTES

        self.writer = writer
        self.maxsize = maxsize
        self.max_bytes = QUEUE_BYTES.value if max_bytes is None else max_bytes
        self._items: collections.deque = collections.deque()
        self._bytes = 0  # of the frames in _items
        self._changed = threading.Condition()
        self._abort = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fomm-encode", daemon=True)

    def _next(self):
        with self._changed:
            while not self._items:
                self._changed.wait()
            item = self._items.popleft()
            self._bytes -= _size(item)
            self._changed.notify_all()
            return item

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is _END or self._abort.is_set():
                return
            try:
                self.writer.write(item)
            except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
                self._error = exc
                self._abort.set()
                return

    def _full(self, size: int) -> bool:
        return bool(self._items) and (len(self._items) >= self.maxsize or self._bytes + size > self.max_bytes)

    def _put(self, item, bounded: bool = True) -> bool:
        """Queue ``item`` unless the queue stays full for 0.1 s (the caller loops: Ctrl-C gets through)."""
        size = _size(item)
        with self._changed:
            if bounded and self._full(size) and not self._changed.wait_for(lambda: not self._full(size), 0.1):
                return False
            self._items.append(item)
            self._bytes += size
            self._changed.notify_all()
            return True

    def write(self, frame: np.ndarray) -> None:
        while True:
            if self._error is not None:
                raise self._error
            if self._put(frame):
                return

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort.set()
            with self._changed:  # the queued frames will not be written: free them now
                self._items.clear()
                self._bytes = 0
        while self._thread.is_alive():
            if self._put(_END):
                break
        join(self._thread)
        if exc_type is None and self._error is not None:
            raise self._error


def _size(item) -> int:
    return item.nbytes if isinstance(item, np.ndarray) else 0
