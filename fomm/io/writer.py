"""Video output that never leaves a half-written file: H.264 video, GIF, or a folder of PNG frames."""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ..limits import QUEUE_BYTES, check_pixels
from .audio import AudioCopy, open_audio
from .codecs import CPU_ENCODING, LIBX264, NVENC, CodecChoice, CodecUnavailable, nvenc_options
from .errors import MediaError
from .frames import check_frame
from .outputs import check_file_output, check_folder_output, fsync_path, partial_path, publish_folder, remove_path
from .paths import ffmpeg_path, require_exists

logger = logging.getLogger(__name__)

H264_SUFFIXES = (".mp4", ".mov", ".mkv")
SUPPORTED = ".mp4, .mov, .mkv (H.264), .gif, or a folder of PNG frames (a path without extension or ending in /)"
GIF_MAX_FPS = 50  # GIF delays are whole centiseconds, and browsers slow down anything under 2


class VideoWriter:
    """Write (H, W, 3) uint8 RGB frames to a video chosen by the path.

    ``.mp4``/``.mov``/``.mkv``: H.264 (libx264, yuv420p, quality ``crf``) at exactly ``fps``
    (29.97 stays 30000/1001); ``.gif``: a palette per frame; no extension or a trailing ``/``: a folder
    of ``000000.png``, ``000001.png``, ...

    ``audio_from`` carries the audio track of that file (usually the driving video) into an H.264
    output, cut at the video's end; a file without audio gives a silent output. ``audio_start``: the
    second of that file's audio where the output begins (for clips cut out of it).

    The output appears only when the writer closes without error: frames go to a hidden temporary
    ``.<name>.partial<ext>`` beside it, which an exception (or Ctrl-C) inside the ``with`` block removes
    (and the next writer of the same path, after a kill -9). An existing output is never replaced
    unless ``overwrite=True``; a folder only if fomm wrote it; never one of ``inputs`` (nor
    ``audio_from``). See :mod:`fomm.io.outputs`.

    ``encoder``: H.264 on the GPU's NVENC (see :mod:`fomm.io.codecs`; default: libx264 on the CPU); if
    it does not open, libx264 takes over (the reason logged), unless the choice is ``required``.

        with VideoWriter("result.mp4", fps=reader.fps, audio_from="driving.mp4") as out:
            for frame in frames:
                out.write(frame)
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        size: tuple[int, int] | None = None,
        audio_from: str | Path | None = None,
        overwrite: bool = False,
        crf: int = 18,
        audio_start: float = 0.0,
        inputs: Sequence[str | Path | None] = (),
        encoder: CodecChoice = CPU_ENCODING,
    ):
        self.path = Path(path)
        self.kind = _output_kind(path)
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if not (isinstance(crf, int) and 0 <= crf <= 51):
            raise ValueError(f"crf must be an integer from 0 (lossless) to 51, got {crf!r}")
        if size is not None and not (len(size) == 2 and all(isinstance(s, numbers.Integral) and s > 0 for s in size)):
            raise ValueError(f"size must be (width, height) in pixels, got {size!r}")
        self.fps = float(fps)
        # The exact rational rate: 29.97002997... (30000 / 1001 as a float) -> 30000/1001, 29.97 -> 2997/100.
        self.rate = Fraction(fps if isinstance(fps, numbers.Rational) else float(fps)).limit_denominator(1001 * 1000)
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        if self.size is not None:
            check_pixels(*self.size, f"{self.path}'s frames")
        self.crf = crf
        self.encoder = encoder
        self.frames_written = 0
        self._check_target(overwrite, (*inputs, audio_from))
        if audio_from is not None and self.kind != "h264":
            raise MediaError(f"cannot add audio to {self.path}: only {', '.join(H264_SUFFIXES)} outputs carry "
                             "sound; drop audio_from or write a video file")
        if self.kind == "gif" and self.fps > GIF_MAX_FPS:
            logger.warning("%s: GIF cannot show %g fps (browsers slow frames shorter than 20 ms down); "
                           "write an .mp4 for full speed", self.path, self.fps)
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._pad = (0, 0)
        self._started = self._closed = False
        self._audio: AudioCopy | None = None
        if audio_from is not None:
            require_exists(Path(audio_from))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = partial_path(self.path)
        remove_path(self._partial)  # left by a killed run
        if audio_from is not None:  # last: nothing after it can fail and leave it open
            self._audio = open_audio(Path(audio_from), self.path.suffix.lower(), audio_start)

    def _check_target(self, overwrite: bool, inputs: Sequence[str | Path | None]) -> None:
        """The overwrite rules of :mod:`fomm.io.outputs`: a file is replaced only with ``overwrite``, a
        folder of frames only if fomm wrote it, never an input."""
        if self.kind == "folder":
            check_folder_output(self.path, overwrite=overwrite, inputs=inputs)
        else:
            check_file_output(self.path, overwrite=overwrite, inputs=inputs)

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame; every frame must have the same size."""
        if self._closed:
            raise ValueError(f"the writer for {self.path} is closed")
        check_frame(frame)
        height, width = frame.shape[:2]
        if self.size is None:
            check_pixels(width, height, f"{self.path}'s frames")
            self.size = (width, height)
        elif (width, height) != self.size:
            raise ValueError(f"frame is {width}x{height} but {self.path} is being written at "
                             f"{self.size[0]}x{self.size[1]}; give frames of one size")
        if not self._started:
            self._start()
        if self.kind == "folder":
            Image.fromarray(frame).save(self._partial / f"{self.frames_written:06d}.png")
        elif self.kind == "gif":
            self._container.mux(self._stream.encode(self._gif_frame(frame)))
        else:
            self._container.mux(self._stream.encode(self._h264_frame(frame)))
        self.frames_written += 1
        if self._audio is not None:
            self._audio.pump(self.frames_written / self.rate)

    def write_batch(self, frames: np.ndarray) -> None:
        """Append (N, H, W, 3) uint8 RGB frames."""
        if not isinstance(frames, np.ndarray) or frames.ndim != 4:
            raise ValueError(f"write_batch expects a (N, H, W, 3) uint8 array, got {getattr(frames, 'shape', frames)}")
        for frame in frames:
            self.write(frame)

    def _start(self) -> None:
        self._started = True
        width, height = self.size
        if self.kind == "folder":
            self._partial.mkdir()
            return
        self._container = self._open_container()
        if self.kind == "gif":
            self._stream = self._container.add_stream("gif", rate=self.rate)
            self._stream.pix_fmt = "pal8"
            self._stream.width, self._stream.height = width, height
        else:
            self._stream = self._h264_stream(width, height)
        if self._audio is not None:
            self._audio.attach(self._container)

    def _open_container(self) -> av.container.OutputContainer:
        options = {"movflags": "+faststart"} if self.path.suffix.lower() in (".mp4", ".mov") else {}
        return av.open(ffmpeg_path(self._partial), "w", options=options)

    def _h264_stream(self, width: int, height: int):
        # yuv420p halves the chroma resolution, so H.264 needs even sides: repeat the last row/column.
        self._pad = (height % 2, width % 2)
        if any(self._pad):
            logger.info("%s: %dx%d has an odd side; padding to %dx%d for yuv420p", self.path,
                        width, height, width + self._pad[1], height + self._pad[0])
        padded = (width + self._pad[1], height + self._pad[0])
        if self.encoder.name == NVENC:
            stream = self._nvenc_stream(*padded)
            if stream is not None:
                return stream
        return self._add_h264(LIBX264, {"crf": str(self.crf), **_x264_memory(width, height)}, *padded)

    def _add_h264(self, codec: str, options: dict[str, str], width: int, height: int):
        stream = self._container.add_stream(codec, rate=self.rate, options=options)
        stream.pix_fmt = "yuv420p"
        stream.width, stream.height = width, height  # before the codec opens: PyAV refuses it after
        # Tag the BT.601 limited-range conversion swscale applies, so players decode the same colors.
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = 6  # SMPTE 170M (BT.601)
        context.color_range = 1  # limited ("MPEG")
        return stream

    def _nvenc_stream(self, width: int, height: int):
        """An NVENC stream, opened at once to know that it works; if it does not, the file starts over
        for libx264 (None), or, when NVENC was required, :class:`CodecUnavailable`."""
        stream = self._add_h264(NVENC, nvenc_options(self.crf, self.encoder), width, height)
        try:
            stream.codec_context.open()
        except av.error.FFmpegError as error:
            self._container.close()
            remove_path(self._partial)
            if self.encoder.required:
                raise CodecUnavailable(f"NVENC does not open for {self.path} ({error})") from None
            logger.warning("%s: NVENC does not open (%s); encoding with libx264 on the CPU", self.path, error)
            self.encoder = CPU_ENCODING
            self._container = self._open_container()
            return None
        return stream

    def _h264_frame(self, frame: np.ndarray) -> av.VideoFrame:
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts, video_frame.time_base = self.frames_written, 1 / self.rate
        return video_frame

    def _gif_frame(self, frame: np.ndarray) -> av.VideoFrame:
        """A palette of this frame's own 256 colors (median cut; Pillow dithers only onto a given palette,
        so there is no dithering)."""
        quantized = Image.fromarray(frame).quantize(256, method=Image.Quantize.MEDIANCUT)
        colors = np.asarray(quantized.getpalette(), np.uint8).reshape(-1, 3)[:256]
        palette = np.zeros((256, 4), np.uint8)  # ARGB rows, as PyAV's pal8 expects
        palette[:, 0] = 255
        palette[: len(colors), 1:] = colors
        video_frame = av.VideoFrame.from_ndarray((np.asarray(quantized, np.uint8), palette), format="pal8")
        video_frame.pts, video_frame.time_base = self.frames_written, 1 / self.rate
        return video_frame

    def close(self) -> None:
        """Finish the file and move it onto ``path``. With no frames written, nothing is saved (MediaError)."""
        if self._closed:
            return
        try:
            if self.frames_written == 0:
                raise MediaError(f"no frames were written to {self.path}; nothing was saved")
            if self._container is not None:
                self._container.mux(self._stream.encode(None))
                if self._audio is not None:
                    self._audio.finish(self.frames_written / self.rate)
                self._container.close()
            self._publish()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        logger.info("wrote %d frames to %s", self.frames_written, self.path)

    def abort(self) -> None:
        """Stop writing and delete the partial output; the final path is left untouched."""
        self._closed = True
        for resource in (self._container, self._audio):
            if resource is not None:
                try:
                    resource.close()
                except Exception as error:  # the file is being thrown away; keep the original error
                    logger.debug("ignoring %r while discarding %s", error, self._partial)
        remove_path(self._partial)

    def _publish(self) -> None:
        if self.kind == "folder":
            publish_folder(self._partial, self.path, "VideoWriter: PNG frames")
        else:  # the data on the disk before the name points at it, the name after
            fsync_path(self._partial)
            os.replace(self._partial, self.path)
            fsync_path(self.path.parent)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


X264_LOOKAHEAD = 40  # x264's default rc-lookahead (frames it holds to plan the bitrate)
X264_BYTES_PER_PIXEL = 2  # what x264 holds per frame it keeps in flight (yuv420p planes, half-size planes, ...)


def _x264_memory(width: int, height: int) -> dict[str, str]:
    """x264 options that keep the frames it holds within :data:`fomm.limits.QUEUE_BYTES`.

    x264 keeps up to ``rc-lookahead`` frames for rate control and one per frame thread (1.5 per core),
    so a 16 MP output held 2.6 GB at 40 frames against 1.0 GB at 12 (64 MP: four times that). For
    frames so large that 40 of them exceed the budget, the lookahead and the threads shrink to what fits,
    and x264 encodes without B-frames and with one reference frame: B-frames hold input frames back until
    the frame after them is encoded, and every reference frame is kept with its half-pixel planes (four
    times its luma), so with x264's default 3 and 3 its frame pool went on growing until the 10th frame
    (at 4 MP, 244 MB of frames) and without them stops at the 4th (151 MB; ``benchmarks/memory.py``): the
    peak is reached in the first frames, whatever the video's length. Ordinary sizes (up to 1 MP with
    the default budget) keep x264's defaults, bit for bit.
    """
    fits = QUEUE_BYTES.value // max(1, width * height * X264_BYTES_PER_PIXEL)
    if fits >= X264_LOOKAHEAD:
        return {}
    frames = max(1, fits)
    return {"rc-lookahead": str(frames), "threads": str(max(1, min(frames, os.cpu_count() or 1))), "bf": "0",
            "refs": "1"}


def _output_kind(path: str | Path) -> str:
    """'h264', 'gif' or 'folder', from the path's spelling."""
    text = os.fspath(path)
    suffix, name = Path(text).suffix.lower(), Path(text).name
    if text == "-":
        raise MediaError("cannot write video to standard output (-o -); give a file name such as out.mp4")
    if text.endswith(("/", os.sep)):
        return "folder"
    if name.lower() in (*H264_SUFFIXES, ".gif"):
        raise MediaError(f"{text} is only an extension; give a name, e.g. out{name}")
    if name.endswith("."):
        raise MediaError(f"{text} ends with a dot; did you mean {text.rstrip('.')}? (a folder of PNG frames is a "
                         "name without extension, or one ending in /)")
    if not suffix:
        return "folder"
    if suffix in H264_SUFFIXES:
        return "h264"
    if suffix == ".gif":
        return "gif"
    raise MediaError(f"cannot write {text}: unsupported extension {suffix!r}; use {SUPPORTED}")
