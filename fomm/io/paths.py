"""What a path holds, judged by its name: still image, video, or a folder of frames."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .errors import MediaError
from .outputs import fsync_path, partial_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# GIF counts as video: an animated GIF is a common driving clip, and a single-frame GIF is rare as a source.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif", ".m4v")


def is_image_path(path: str | Path) -> bool:
    """True if ``path`` names a still image by its extension (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: str | Path) -> bool:
    """True if ``path`` names a video file (mp4, mov, avi, mkv, webm, gif, m4v) by its extension."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def natural_key(name: str) -> tuple:
    """Sort key that orders ``frame2.png`` before ``frame10.png``."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def list_frames(folder: Path) -> list[Path]:
    """The image files of a frame folder in natural order; hidden files are skipped."""
    files = [p for p in folder.iterdir() if p.is_file() and is_image_path(p) and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def ffmpeg_path(path: str | Path) -> str:
    """``path`` as ffmpeg must be given a local file: ``file:`` and the absolute path. ffmpeg reads
    the text before a colon as a protocol, so ``2024-01-01T12:30:00.mp4`` or ``a:b.mp4`` given as is
    fails ("Protocol not found"), and ``http:x.mp4`` would be fetched."""
    return "file:" + os.path.abspath(path)


def require_exists(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path} not found; check the path (relative paths start at {Path.cwd()})")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` when the block succeeds
    and is removed when it fails, so an interrupted write never leaves a half-written file (a kill -9
    leaves the hidden temporary file, :func:`fomm.io.outputs.partial_path`, which the next write removes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        if tmp.is_file():  # some writers (safetensors) create private 0600 files: give it the usual mode
            tmp.chmod(0o666 & ~_UMASK)
        fsync_path(tmp)  # the data on disk before the name points at it: a crash leaves the old file or the new
        os.replace(tmp, path)
        fsync_path(path.parent)  # the rename itself
    finally:
        tmp.unlink(missing_ok=True)


def _read_umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: setting it later could race with threads creating files
