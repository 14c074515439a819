"""Image and video input/output for fomm: everything that touches media files lives here.

Frames are (H, W, 3) uint8 RGB numpy arrays; :func:`to_tensor` and :func:`to_uint8` convert to and from
the networks' float (N, 3, H, W) tensors in [0, 1]. Videos are streamed frame by frame. Every problem
with a file raises :class:`MediaError`, whose message names the file and the fix.

The names below are imported on first use (PEP 562), so that code needing only paths or the output
rules (checkpoints, ``fomm info``) does not load PyAV and the video stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "draw_keypoints": ".draw", "keypoint_colors": ".draw",
    "MediaError": ".errors",
    "prepare_frame": ".frames", "to_tensor": ".frames", "to_uint8": ".frames",
    "image_size": ".image", "read_image": ".image", "write_image": ".image",
    "IMAGE_EXTENSIONS": ".paths", "VIDEO_EXTENSIONS": ".paths", "atomic_path": ".paths", "is_image_path": ".paths",
    "is_video_path": ".paths",
    "VideoInfo": ".reader", "VideoReader": ".reader", "count_frames": ".reader", "probe_video": ".reader",
    "read_video": ".reader",
    "BackgroundWriter": ".streaming", "prefetch": ".streaming",
    "VideoWriter": ".writer",
}

__all__ = [
    "BackgroundWriter",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "MediaError",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "atomic_path",
    "count_frames",
    "draw_keypoints",
    "image_size",
    "is_image_path",
    "is_video_path",
    "keypoint_colors",
    "prefetch",
    "prepare_frame",
    "probe_video",
    "read_image",
    "read_video",
    "to_tensor",
    "to_uint8",
    "write_image",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:
    from .draw import draw_keypoints, keypoint_colors
    from .errors import MediaError
    from .frames import prepare_frame, to_tensor, to_uint8
    from .image import image_size, read_image, write_image
    from .paths import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, atomic_path, is_image_path, is_video_path
    from .reader import VideoInfo, VideoReader, count_frames, probe_video, read_video
    from .streaming import BackgroundWriter, prefetch
    from .writer import VideoWriter
