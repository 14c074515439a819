"""The streaming plumbing of fomm.io.streaming: the prefetch thread hands over errors and stops when
closed; the background writer keeps the order, reports errors and stops on Ctrl-C."""

from __future__ import annotations

import threading
import time

import pytest

from fomm.io import BackgroundWriter
from fomm.io.streaming import prefetch


def test_prefetch_hands_over_errors_and_stops_early():
    def failing():
        yield 1
        raise OSError("disk gone")

    items = prefetch(failing())
    assert next(items) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(items)

    produced = []

    def endless():
        while True:
            produced.append(1)
            yield len(produced)

    items = prefetch(endless(), maxsize=2, name="test-prefetch")
    assert next(items) == 1
    items.close()  # returns once the producer thread has ended
    count = len(produced)
    assert count <= 5
    assert not [t for t in threading.enumerate() if t.name == "test-prefetch"]
    time.sleep(0.3)
    assert len(produced) == count  # nothing produced after close


class _ListWriter:
    def __init__(self, fail_at: int | None = None):
        self.frames, self.fail_at = [], fail_at

    def write(self, frame):
        if self.fail_at is not None and len(self.frames) == self.fail_at:
            raise OSError("disk full")
        self.frames.append(frame)


def test_background_writer_keeps_order_and_reports_errors():
    writer = _ListWriter()
    with BackgroundWriter(writer, maxsize=2) as background:
        for i in range(20):
            background.write(i)
    assert writer.frames == list(range(20))

    with pytest.raises(OSError, match="disk full"), BackgroundWriter(_ListWriter(fail_at=3), maxsize=2) as background:
        for i in range(50):
            background.write(i)

    writer = _ListWriter()
    with pytest.raises(KeyboardInterrupt), BackgroundWriter(writer, maxsize=2) as background:
        background.write(0)
        raise KeyboardInterrupt
    assert len(writer.frames) <= 1
