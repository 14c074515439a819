"""Frames from a camera, or a video file played as one, handed over latest-frame-wins.

A camera delivers frames at its own pace whatever the model does. :class:`LatestFrame` holds one
frame: a new frame replaces the one waiting, which then counts as dropped, so a slow model always
works on the newest frame and memory holds at most one waiting frame, however slow it is.
:class:`Camera` reads a :class:`FrameSource` into it in a background thread.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FommError
from ..io import VideoReader

logger = logging.getLogger(__name__)


class LiveError(FommError, RuntimeError):
    """Live mode cannot start or go on (no camera, no window, no virtual camera); the message says how
    to fix it."""


@dataclass(frozen=True)
class CapturedFrame:
    """``image``: (H, W, 3) uint8 RGB; ``index``: its number from the camera (0, 1, 2, ...);
    ``time``: ``time.perf_counter()`` when it arrived."""

    image: np.ndarray
    index: int
    time: float


class LatestFrame:
    """A one-frame mailbox between the camera thread and the animation loop.

    ``put`` replaces the waiting frame (counted in ``dropped``) unless ``wait`` is set, in which case
    it waits until the frame was taken (nothing dropped: for files animated frame by frame). ``take``
    returns the newest frame, or None once the camera is closed and nothing is left.
    """

    capacity = 1  # frames held at most, whatever the speeds

    def __init__(self):
        self._cond = threading.Condition()
        self._frame: CapturedFrame | None = None
        self._closed = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: CapturedFrame, wait: bool = False) -> bool:
        """Hand over ``frame``; False if the mailbox was closed meanwhile (the reader should stop)."""
        with self._cond:
            while wait and self._frame is not None and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()
            return True

    def take(self, timeout: float | None = None) -> CapturedFrame | None:
        """The newest frame (waiting for one up to ``timeout`` seconds; None on timeout or at the end).
        An error of the camera thread is raised here."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout):
                return None
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            if frame is None and self.error is not None:
                raise self.error
            if frame is not None:
                self.delivered += 1
            return frame

    def close(self, error: BaseException | None = None) -> None:
        """No more frames will come (the frame waiting, if any, can still be taken)."""
        with self._cond:
            self._closed = True
            self.error = self.error or error
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed and self._frame is None


class FrameSource:
    """Frames from somewhere, as (H, W, 3) uint8 RGB; ``fps`` is the nominal rate, ``num_frames`` the
    count when known; ``realtime`` means it delivers at its own pace (a camera, or a file played at its
    frame rate) rather than as fast as it is read."""

    fps: float = 30.0
    num_frames: int | None = None
    realtime: bool = True
    name: str = "camera"

    def __iter__(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoFileSource(FrameSource):
    """A video file as a camera: played in real time at its frame rate (``realtime``), or every frame
    as fast as the consumer takes them (``realtime=False``, nothing dropped)."""

    def __init__(self, path: str | Path, realtime: bool = True):
        self.reader = VideoReader(path)
        self.fps = self.reader.fps
        self.num_frames = self.reader.num_frames
        self.realtime = realtime
        self.name = str(path)

    def __iter__(self) -> Iterator[np.ndarray]:
        start = time.perf_counter()
        for i, frame in enumerate(self.reader):
            if self.realtime:  # frame i is shown at i / fps, as a player would
                delay = start + i / self.fps - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            yield frame

    def close(self) -> None:
        self.reader.close()


class DeviceSource(FrameSource):
    """A webcam by number: OpenCV's VideoCapture when OpenCV is installed, else FFmpeg's capture device
    through PyAV (v4l2 on Linux, avfoundation on macOS)."""

    def __init__(self, index: int):
        self.name = f"camera {index}"
        self._capture = None
        self._container = None
        try:
            import cv2
        except ModuleNotFoundError:
            cv2 = None
        if cv2 is not None:
            capture = cv2.VideoCapture(index)
            if not capture.isOpened():
                raise LiveError(f"cannot open camera {index}; check that it is connected and not used by another "
                                "program, or give a video file as --camera")
            self._capture, self._cv2 = capture, cv2
            self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 30.0)
            return
        import av

        device, fmt = {"darwin": (str(index), "avfoundation")}.get(sys.platform, (f"/dev/video{index}", "v4l2"))
        try:
            self._container = av.open(device, format=fmt)
        except (OSError, av.FFmpegError, ValueError) as exc:
            raise LiveError(f"cannot open camera {index} ({device}: {exc}); check that it is connected and not "
                            "used by another program, or give a video file as --camera") from exc
        stream = self._container.streams.video[0]
        self.fps = float(stream.average_rate or 30.0)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._capture is not None:
            while True:
                ok, frame = self._capture.read()
                if not ok:
                    return
                yield self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)
        else:
            for frame in self._container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
        if self._container is not None:
            self._container.close()


def open_camera(spec: str | int, realtime: bool = True) -> FrameSource:
    """``spec``: a webcam number (``0``) or a video file played as a camera."""
    text = str(spec)
    if text.isdigit():
        return DeviceSource(int(text))
    if not Path(text).exists():
        raise LiveError(f"--camera {text}: no such file; give a webcam number (0, 1, ...) or a video file")
    return VideoFileSource(text, realtime=realtime)


class Camera:
    """Reads ``source`` in a background thread into :attr:`frames` (a :class:`LatestFrame`)."""

    def __init__(self, source: FrameSource):
        self.source = source
        self.frames = LatestFrame()
        self.captured = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fomm-camera", daemon=True)

    def _run(self) -> None:
        error = None
        try:
            for index, image in enumerate(self.source):
                if self._stop.is_set():
                    break
                self.captured = index + 1
                if not self.frames.put(CapturedFrame(image, index, time.perf_counter()),
                                       wait=not self.source.realtime):
                    break
        except BaseException as exc:  # noqa: BLE001 (raised again in the animation loop)
            error = exc
        finally:
            self.frames.close(error)

    def start(self) -> Camera:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading and wait for the thread; the source is closed."""
        self._stop.set()
        self.frames.close()
        self._thread.join()
        self.source.close()

    def __enter__(self) -> Camera:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
