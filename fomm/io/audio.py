"""Carry the audio track of a media file (usually the driving video) into the video being written."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from .errors import MediaError
from .paths import ffmpeg_path

logger = logging.getLogger(__name__)

# Audio codecs each output container takes as they are; anything else is re-encoded to AAC.
COPYABLE = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac"},
    ".mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"},
    ".mkv": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "vorbis", "flac", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
}


def open_audio(source: Path, suffix: str, start: float = 0.0) -> AudioCopy | None:
    """The audio track of ``source``, ready to go into a ``suffix`` container; None if it has none.
    ``start``: seconds of the source (from its first video frame) where the output begins."""
    try:
        container = av.open(ffmpeg_path(source))
    except av.error.FFmpegError as error:
        raise MediaError(
            f"cannot read audio from {source} ({error.strerror}); check the file, or drop audio_from"
        ) from error
    if not container.streams.audio:
        container.close()
        logger.info("%s has no audio track; the output will be silent", source)
        return None
    return AudioCopy(source, container, suffix, start)


class AudioCopy:
    """The audio of one file, streamed into an output container beside the video.

    Packets are remuxed without re-encoding when the codec fits the output container (e.g. AAC into
    mp4), otherwise decoded and re-encoded to AAC. Audio is aligned so that the source's first video
    frame is at time 0, and :meth:`pump` interleaves it with the video as frames are written.
    """

    def __init__(self, source: Path, container: av.container.InputContainer, suffix: str, offset: float = 0.0):
        self.source = source
        self._input = container
        self._in = container.streams.audio[0]
        self.copy = self._in.codec_context.name in COPYABLE.get(suffix, set())
        videos = container.streams.video
        start = videos[0].start_time if videos and videos[0].start_time is not None else 0
        self._origin = Fraction(start) * (videos[0].time_base if videos else 1)  # seconds
        self._trim = offset > 0  # a clip cut out of the source (fomm crop's segments) starts later
        self._origin += Fraction(offset).limit_denominator(1 << 20)
        self._items: Iterator = iter(())
        self._held = None  # the next packet or frame, read but not yet muxed
        self._output: av.container.OutputContainer | None = None

    def attach(self, output: av.container.OutputContainer) -> None:
        """Add the audio stream to ``output``; call before the first packet is muxed."""
        self._output = output
        if self.copy:
            self._out = output.add_stream_from_template(self._in)
            self._items = self._packets()
        else:
            layout = "mono" if self._in.channels == 1 else "stereo"
            self._out = output.add_stream("aac", rate=self._in.sample_rate or 48000, layout=layout)
            self._items = self._frames()
        logger.debug("%s audio (%s) from %s", "copying" if self.copy else "re-encoding to aac",
                     self._in.codec_context.name, self.source)

    def pump(self, until: float) -> None:
        """Mux the audio that starts before ``until`` seconds of output."""
        while True:
            if self._held is None:
                self._held = next(self._items, None)
                if self._held is None:
                    return
            if self._start(self._held) >= until:
                return
            item, self._held = self._held, None
            if self._end(item) < 0 or (self._trim and self._start(item) < 0):  # before the first video frame
                continue
            self._mux(item)

    def finish(self, end: float) -> None:
        """Mux the audio up to ``end`` seconds (the video's duration), flush and close the source."""
        self.pump(end)
        if not self.copy:
            self._output.mux(self._out.encode(None))
        self.close()

    def close(self) -> None:
        self._input.close()

    def _start(self, item) -> Fraction:
        return item.pts * item.time_base - self._origin

    def _end(self, item) -> Fraction:
        length = item.duration if isinstance(item, av.Packet) else item.samples
        length_base = item.time_base if isinstance(item, av.Packet) else Fraction(1, item.sample_rate)
        return self._start(item) + (length or 0) * length_base

    def _shift(self, item) -> None:
        offset = round(self._origin / item.time_base)
        item.pts -= offset
        if isinstance(item, av.Packet) and item.dts is not None:
            item.dts -= offset

    def _mux(self, item) -> None:
        self._shift(item)
        if isinstance(item, av.Packet):
            item.stream = self._out
            self._output.mux(item)
        else:
            self._output.mux(self._out.encode(item))

    def _packets(self) -> Iterator[av.Packet]:
        for packet in self._guarded_demux():
            if packet.size and packet.pts is not None:
                yield packet

    def _frames(self) -> Iterator[av.AudioFrame]:
        for packet in self._guarded_demux():
            try:
                frames = self._in.decode(packet)
            except av.error.FFmpegError as error:
                logger.debug("%s: skipping an audio packet that does not decode (%s)", self.source, error)
                continue
            for frame in frames:
                if frame.pts is not None:
                    yield frame

    def _guarded_demux(self) -> Iterator[av.Packet]:
        packets = self._input.demux(self._in)
        while True:
            try:
                yield next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                logger.warning("%s: the audio ends early at a read error (%s)", self.source, error.strerror)
                return
