"""Streaming video input: a video file (through PyAV) or a folder of frames, one RGB frame at a time."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import av
import numpy as np

from ..limits import LimitError, check_pixels
from .codecs import CPU_DECODING, CodecChoice, open_input
from .errors import MediaError
from .image import read_image
from .paths import IMAGE_EXTENSIONS, ffmpeg_path, is_image_path, list_frames, require_exists

logger = logging.getLogger(__name__)

DEFAULT_FOLDER_FPS = 25.0


@dataclass(frozen=True)
class VideoInfo:
    """What a driving video holds, known before decoding it all."""

    path: Path
    fps: float  # average frame rate: frames / duration where the container lists both
    num_frames: int | None  # the container's count (exact for mp4/mov/gif and folders) or an estimate
    duration: float | None  # seconds
    size: tuple[int, int]  # (width, height) of the frames as yielded, i.e. after rotation
    has_audio: bool
    rotation: int = 0  # counter-clockwise degrees applied to decoded frames (display matrix)


def probe_video(path: str | Path, fps: float | None = None) -> VideoInfo:
    """The metadata of a video file or frame folder; decodes only the first frame."""
    with VideoReader(path, fps=fps) as reader:
        return reader.info


def count_frames(path: str | Path) -> int:
    """The exact number of frames of a video file or frame folder, without decoding: the container's
    count where it lists one (mp4, mov), else its video packets (mkv, webm, gif); 0 for a file without
    a video stream. :attr:`VideoInfo.num_frames` is the cheaper estimate."""
    path = Path(path)
    require_exists(path)
    if path.is_dir():
        return len(list_frames(path))
    try:
        with av.open(ffmpeg_path(path)) as container:
            if not container.streams.video:
                return 0
            stream = container.streams.video[0]
            if stream.frames and stream.frames > 0:
                return int(stream.frames)
            return sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as error:
        raise _cannot_open(path, error) from error


def _cannot_open(path: Path, error: av.error.FFmpegError) -> MediaError:
    return MediaError(f"cannot open {path} as a video ({error.strerror}); the file is damaged, truncated "
                      "(e.g. an interrupted download) or not a video: re-download or re-encode it")


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """All frames (or the first ``max_frames``) as one (N, H, W, 3) uint8 array. For short clips only:
    anything long should iterate a :class:`VideoReader` instead."""
    with VideoReader(path) as reader:
        return np.stack(list(islice(reader, max_frames)))


class VideoReader:
    """Frames of a driving video, decoded one at a time as (H, W, 3) uint8 RGB.

    ``path`` is a video file (mp4, mov, avi, mkv, webm, gif, ...) or a folder of image frames, sorted
    naturally by name (``frame2.png`` before ``frame10.png``). ``fps`` sets the rate of a folder
    (default 25) or overrides a file's. Rotation metadata is applied, so phone videos come out upright.
    Variable-frame-rate files yield every decoded frame; ``fps`` is then their average rate.

    A truncated or damaged file yields the frames that decode and then stops without raising; afterwards
    ``truncated`` is True, ``frames_read`` says how many came out, and a warning is logged.
    ``decoder``: decode a video file on the GPU's NVDEC (see :mod:`fomm.io.codecs`; default: the CPU).

        with VideoReader("driving.mp4") as video:
            for frame in video:
                ...
    """

    def __init__(self, path: str | Path, fps: float | None = None, decoder: CodecChoice = CPU_DECODING):
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        self.path = Path(path)
        require_exists(self.path)
        if self.path.is_dir():
            self._source: _FolderSource | _ContainerSource = _FolderSource(self.path, fps)
        elif is_image_path(self.path):
            raise MediaError(f"{self.path} is a still image; give a video or a folder of frames")
        else:
            self._source = _ContainerSource(self.path, fps, decoder)
        self.info: VideoInfo = self._source.info
        self.truncated = False
        self.frames_read = 0

    @property
    def fps(self) -> float:
        """Average frame rate."""
        return self.info.fps

    @property
    def num_frames(self) -> int | None:
        """Frame count: exact for mp4/mov/gif and folders, estimated from the duration otherwise."""
        return self.info.num_frames

    @property
    def duration(self) -> float | None:
        """Seconds, or None if the container does not say."""
        return self.info.duration

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the yielded frames, after rotation."""
        return self.info.size

    @property
    def has_audio(self) -> bool:
        return self.info.has_audio

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield every frame. Iterating again starts over from the first frame."""
        self.truncated, self.frames_read = False, 0
        for frame in self._source.frames():
            self.frames_read += 1
            yield frame
        self.truncated = self._source.truncated

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        info = self.info
        return (f"VideoReader({str(self.path)!r}, fps={info.fps:g}, num_frames={info.num_frames}, "
                f"size={info.size}, has_audio={info.has_audio})")


class _FolderSource:
    """A folder of image frames in natural name order."""

    def __init__(self, path: Path, fps: float | None):
        self.path = path
        self.files = list_frames(path)
        if not self.files:
            raise MediaError(
                f"no image frames ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}; give a folder of frames "
                "or a video file"
            )
        height, width = read_image(self.files[0]).shape[:2]
        fps = float(fps or DEFAULT_FOLDER_FPS)
        n = len(self.files)
        self.info = VideoInfo(path, fps, n, n / fps, (width, height), has_audio=False)
        self.truncated = False

    def frames(self) -> Iterator[np.ndarray]:
        for file in self.files:
            frame = read_image(file)
            if (frame.shape[1], frame.shape[0]) != self.info.size:
                width, height = self.info.size
                raise MediaError(
                    f"{file} is {frame.shape[1]}x{frame.shape[0]} but the first frame of {self.path} is "
                    f"{width}x{height}; all frames of a folder must have the same size"
                )
            yield frame

    def close(self) -> None:
        pass


class _ContainerSource:
    """A video file decoded by PyAV. The first frame is decoded on opening, to fail early on files with
    nothing decodable and to learn the rotation (PyAV exposes the display matrix per frame)."""

    def __init__(self, path: Path, fps: float | None, decoder: CodecChoice = CPU_DECODING):
        self.path = path
        self.truncated = False
        self._decoder = decoder
        self._open()
        try:
            self._first = next(self._pending, None)
            if self._first is None:
                reason = f" (last error: {self._last_error})" if self._last_error else ""
                raise MediaError(
                    f"no decodable frames in {path}{reason}; the file is damaged or its codec is not supported, "
                    "re-encode it (e.g. to H.264 mp4)"
                )
            self.info = self._probe(self._first, fps)
        except BaseException:
            self.close()
            raise
        self._started = False

    def _open(self) -> None:
        try:
            self._container = open_input(ffmpeg_path(self.path), self._decoder)
        except av.error.FFmpegError as error:
            raise _cannot_open(self.path, error) from error
        if not self._container.streams.video:
            self._container.close()
            raise MediaError(f"{self.path} has no video stream; give a video file or a folder of frames")
        self._stream = self._container.streams.video[0]
        if self._stream.codec_context is None:  # a codec id ffmpeg does not know: a damaged header
            self._container.close()
            raise MediaError(f"cannot decode {self.path}: its video codec is unknown; the file is damaged or its "
                             "codec is not supported, re-encode it (e.g. to H.264 mp4)")
        try:
            check_pixels(self._stream.codec_context.width, self._stream.codec_context.height, f"{self.path}'s frame")
        except LimitError:
            self._container.close()
            raise
        self._stream.thread_type = "AUTO"
        self._decode_errors, self._last_error, self._read_error = 0, None, None
        self._pending = self._decode()

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Decoded frames; a packet that fails to decode is skipped (the decoder resynchronizes at the
        next keyframe), a failure to read the container ends the stream."""
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                self._read_error = error
                return
            try:
                decoded = self._stream.decode(packet)
            except av.error.FFmpegError as error:
                self._decode_errors += 1
                self._last_error = error.strerror
                logger.debug("%s: skipping a packet that does not decode (%s)", self.path, error)
                continue
            yield from decoded

    def _probe(self, first: av.VideoFrame, fps: float | None) -> VideoInfo:
        stream, container = self._stream, self._container
        listed = stream.frames if stream.frames and stream.frames > 0 else None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        if listed and duration:
            rate = listed / duration
        elif stream.average_rate:
            rate = float(stream.average_rate)
        elif stream.guessed_rate:
            rate = float(stream.guessed_rate)
        else:
            rate = DEFAULT_FOLDER_FPS
            logger.warning("%s lists no frame rate; assuming %g fps", self.path, rate)
        num_frames = listed or (round(duration * rate) if duration else None)
        if fps is not None:
            rate = float(fps)
            duration = num_frames / rate if num_frames else duration
        elif duration is None and num_frames:
            duration = num_frames / rate
        rotation = _quarter_turns(first.rotation, self.path) * 90
        width, height = first.width, first.height
        if rotation % 180:
            width, height = height, width
        return VideoInfo(self.path, rate, num_frames, duration, (width, height),
                         has_audio=bool(container.streams.audio), rotation=rotation)

    def frames(self) -> Iterator[np.ndarray]:
        if self._started:  # a second pass: decode again from the start
            self._container.close()
            self._open()
            self._first = None
        self._started = True
        first, self._first = self._first, None
        count = 0
        if first is not None:
            count += 1
            yield self._to_rgb(first)
        for frame in self._pending:
            count += 1
            yield self._to_rgb(frame)
        self._report(count)

    def _report(self, count: int) -> None:
        """Set ``truncated`` and warn when the stream ended short of what the container promised."""
        listed = self._stream.frames or None
        problems = []
        if self._read_error is not None:
            problems.append(f"reading stopped at an error ({self._read_error.strerror})")
        if self._decode_errors:
            problems.append(f"{self._decode_errors} packet(s) did not decode")
        if listed and count < listed:
            problems.append(f"the container lists {listed} frames")
        self.truncated = bool(problems)
        if problems:
            logger.warning(
                "%s: got %d frames, but %s; the file looks truncated or damaged (re-download or re-encode it "
                "for the full clip)", self.path, count, "; ".join(problems),
            )

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        if any(component.is_alpha for component in frame.format.components):  # GIF, PNG/ProRes 4444 video
            rgba = frame.to_ndarray(format="rgba").astype(np.uint16)  # (H, W, 4)
            alpha = rgba[..., 3:]
            # Composite on white, like read_image: (c a + 255 (255 - a)) / 255, rounded.
            rgb = ((rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
        else:
            rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range)  # (H, W, 3)
        turns = self.info.rotation // 90
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()


def _quarter_turns(degrees: float, path: Path) -> int:
    """Counter-clockwise display rotation in quarter turns (0..3); other angles are rounded, with a warning."""
    turns = round(degrees / 90)
    if abs(degrees - 90 * turns) > 1:
        logger.warning("%s: rotation of %g degrees is not a multiple of 90; using %d", path, degrees, turns * 90)
    return turns % 4

