"""``fomm live``: drive a source image from a webcam (or a video file played as one), latest frame wins.

    live = LiveAnimator(model, ["face.png", "other.png"])
    session = LiveSession(live, Camera(open_camera(0)), open_output("window"))
    stats = session.run()          # until the input ends, q, or Ctrl-C
    print(stats.summary())         # fps, latency, dropped frames
"""

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
from .outputs import FileOutput, VirtualCameraOutput, WindowOutput, open_output
from .session import (
    COMMANDS,
    NEXT_SOURCE,
    OVERLAY,
    QUIT,
    RECALIBRATE,
    LiveAnimator,
    LiveSession,
    LiveStats,
    Output,
    overlay,
    parse_schedule,
)

__all__ = [
    "COMMANDS", "NEXT_SOURCE", "OVERLAY", "QUIT", "RECALIBRATE", "Camera", "CapturedFrame", "DeviceSource",
    "FileOutput", "FrameSource", "LatestFrame", "LiveAnimator", "LiveError", "LiveSession", "LiveStats", "Output",
    "VideoFileSource", "VirtualCameraOutput", "WindowOutput", "open_camera", "open_output", "overlay",
    "parse_schedule",
]
