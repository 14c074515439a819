"""Image and video input/output for fomm: everything that touches media files lives here.

Frames are (H, W, 3) uint8 RGB numpy arrays; :func:`to_tensor` and :func:`to_uint8` convert to and from
the networks' float (N, 3, H, W) tensors in [0, 1]. Videos are streamed frame by frame. Every problem
with a file raises :class:`MediaError`, whose message names the file and the fix.
"""

from .draw import draw_keypoints, keypoint_colors
from .errors import MediaError
from .frames import prepare_frame, to_tensor, to_uint8
from .image import read_image
from .paths import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, atomic_path, is_image_path, is_video_path
from .reader import VideoInfo, VideoReader, probe_video, read_video
from .streaming import BackgroundWriter, prefetch
from .writer import VideoWriter

__all__ = [
    "BackgroundWriter",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "MediaError",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "atomic_path",
    "draw_keypoints",
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
]
