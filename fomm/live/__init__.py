"""``fomm live``: drive a source image from a webcam (or a video file played as one), latest frame wins.

    live = LiveAnimator(model, ["face.png", "other.png"])
    session = LiveSession(live, Camera(open_camera(0)), open_output("window"))
    stats = session.run()          # until the input ends, q, or Ctrl-C
    print(stats.summary())         # fps, latency, dropped frames

The names are imported on first use, so that the CLI can read the keys (:mod:`.commands`) without
loading PyTorch and the video stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_MODULES = {
    ".capture": ("Camera", "CapturedFrame", "DeviceSource", "FrameSource", "LatestFrame", "LiveError",
                 "VideoFileSource", "open_camera"),
    ".commands": ("COMMANDS", "NEXT_SOURCE", "OVERLAY", "QUIT", "RECALIBRATE", "CommandError", "parse_schedule"),
    ".outputs": ("FileOutput", "VirtualCameraOutput", "WindowOutput", "open_output"),
    ".session": ("LiveAnimator", "LiveSession", "LiveStats", "Output", "overlay"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "COMMANDS", "Camera", "CapturedFrame", "CommandError", "DeviceSource", "FileOutput", "FrameSource",
    "LatestFrame", "LiveAnimator", "LiveError", "LiveSession", "LiveStats", "NEXT_SOURCE", "OVERLAY", "Output",
    "QUIT", "RECALIBRATE", "VideoFileSource", "VirtualCameraOutput", "WindowOutput", "open_camera", "open_output",
    "overlay", "parse_schedule",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:
    from .capture import (
        Camera,
        CapturedFrame,
        DeviceSource,
        FrameSource,
        LatestFrame,
        LiveError,
        VideoFileSource,
        open_camera,
    )
    from .commands import COMMANDS, NEXT_SOURCE, OVERLAY, QUIT, RECALIBRATE, CommandError, parse_schedule
    from .outputs import FileOutput, VirtualCameraOutput, WindowOutput, open_output
    from .session import LiveAnimator, LiveSession, LiveStats, Output, overlay
