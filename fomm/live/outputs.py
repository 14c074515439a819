"""Where ``fomm live`` sends its frames: a video file, a window, or a virtual camera.

The window uses OpenCV's ``imshow`` when an OpenCV with a GUI is installed (``opencv-python``; the
``-headless`` build has none), else tkinter; without either (or without a display) it fails with a
message naming the alternatives. The virtual camera needs ``pyvirtualcam`` (``fomm[live]``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import BackgroundWriter, VideoWriter
from .capture import CapturedFrame, LiveError
from .session import QUIT, Output

logger = logging.getLogger(__name__)

WINDOW_MIN_SIZE = 256  # small models (64 px) are enlarged on screen


class FileOutput(Output):
    """A video file at the camera's frame rate with one frame per camera frame: a dropped frame shows
    the last result again, so the file plays in real time (its length is the input's). The file
    appears complete when the session ends (also on ``q`` and Ctrl-C), never half-written."""

    def __init__(self, path: str | Path, overwrite: bool = False, inputs: Sequence[str | Path | None] = ()):
        self.path, self.overwrite, self.inputs = Path(path), overwrite, tuple(inputs)
        # checks the name, an existing file and the inputs now (opens nothing)
        VideoWriter(self.path, fps=30, overwrite=overwrite, inputs=self.inputs)
        self.frames_written = 0
        self._stack = ExitStack()
        self._background: BackgroundWriter | None = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        writer = VideoWriter(self.path, fps=fps, overwrite=self.overwrite, inputs=self.inputs)
        writer = self._stack.enter_context(writer)
        self._background = self._stack.enter_context(BackgroundWriter(writer))

    def send(self, image: np.ndarray, captured: CapturedFrame) -> Iterable[str]:
        for _ in range(max(1, captured.index + 1 - self.frames_written)):
            self._background.write(image)
            self.frames_written += 1
        return ()

    def close(self, completed: bool) -> None:
        if completed:
            self._stack.close()
        else:  # the writers see a failure: the partial file is removed
            failure = LiveError("live session failed")
            self._stack.__exit__(type(failure), failure, None)


def _enlarged(image: np.ndarray) -> np.ndarray:
    scale = max(1, -(-WINDOW_MIN_SIZE // max(image.shape[:2])))
    if scale == 1:
        return image
    return np.asarray(Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale),
                                                     Image.Resampling.BICUBIC))


class WindowOutput(Output):
    """A window showing the results; its keys are the live commands (Esc or closing it quits)."""

    TITLE = "fomm live (x: recalibrate, n: next source, o: overlay, q: quit)"

    def __init__(self):
        self._cv2 = self._tk = None
        try:
            import cv2

            cv2.namedWindow(self.TITLE)  # raises cv2.error in a build without a GUI (opencv-python-headless)
            self._cv2 = cv2
            return
        except Exception as exc:  # noqa: BLE001 (missing, or no GUI: try tkinter)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            logger.debug("no OpenCV window: %s", reason)
        try:
            import tkinter

            from PIL import ImageTk

            root = tkinter.Tk()
        except Exception as exc:  # noqa: BLE001 (ModuleNotFoundError, TclError: no display)
            raise LiveError(f"cannot open a window ({str(exc).splitlines()[0] or type(exc).__name__}): install "
                            "opencv-python or python3-tk and run in a desktop session, or use --output FILE "
                            "or --output virtual-camera") from None
        root.title(self.TITLE)
        self._label = tkinter.Label(root)
        self._label.pack()
        self._keys: list[str] = []
        root.bind("<Key>", lambda event: self._keys.append(event.char or ""))
        root.bind("<Escape>", lambda event: self._keys.append(QUIT))
        root.protocol("WM_DELETE_WINDOW", lambda: self._keys.append(QUIT))
        self._tk, self._image_tk = root, ImageTk

    def send(self, image: np.ndarray, captured: CapturedFrame) -> Iterable[str]:
        image = _enlarged(image)
        if self._cv2 is not None:
            cv2 = self._cv2
            cv2.imshow(self.TITLE, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            key = cv2.waitKey(1) & 0xFF
            return [QUIT] if key == 27 else [chr(key)] if key != 0xFF else []
        photo = self._image_tk.PhotoImage(Image.fromarray(image))
        self._label.configure(image=photo)
        self._label.image = photo  # keep a reference: Tk shows nothing otherwise
        self._tk.update()
        keys, self._keys = self._keys, []
        return keys

    def close(self, completed: bool) -> None:
        if self._cv2 is not None:
            self._cv2.destroyWindow(self.TITLE)
        elif self._tk is not None:
            self._tk.destroy()


class VirtualCameraOutput(Output):
    """A virtual webcam that video-call programs can pick (pyvirtualcam: v4l2loopback on Linux, OBS's
    virtual camera on Windows and macOS)."""

    def __init__(self):
        try:
            import pyvirtualcam
        except ModuleNotFoundError:
            raise LiveError("--output virtual-camera needs pyvirtualcam: pip install 'fomm[live]'") from None
        self._module = pyvirtualcam
        self._camera = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        try:
            self._camera = self._module.Camera(width=size[0], height=size[1], fps=fps)
        except RuntimeError as exc:
            raise LiveError(f"cannot start the virtual camera ({exc}); on Linux load v4l2loopback "
                            "(modprobe v4l2loopback), elsewhere install OBS Studio's virtual camera") from None
        logger.info("virtual camera: %s", self._camera.device)

    def send(self, image: np.ndarray, captured: CapturedFrame) -> Iterable[str]:
        self._camera.send(np.ascontiguousarray(image))
        return ()

    def close(self, completed: bool) -> None:
        if self._camera is not None:
            self._camera.close()


def open_output(spec: str, overwrite: bool = False, inputs: Sequence[str | Path | None] = ()) -> Output:
    """``window``, ``virtual-camera``, or a video file path (never one of ``inputs``)."""
    if spec == "window":
        return WindowOutput()
    if spec == "virtual-camera":
        return VirtualCameraOutput()
    return FileOutput(spec, overwrite=overwrite, inputs=inputs)
