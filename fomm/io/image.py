"""Still images: read any common format as (H, W, 3) uint8 RGB; write one atomically."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..limits import IMAGE_PIXELS, LimitError, check_pixels
from .errors import MediaError
from .paths import IMAGE_EXTENSIONS, atomic_path, is_video_path, require_exists

# The Pillow format of each extension fomm writes images as.
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError)


def read_image(path: str | Path) -> np.ndarray:
    """Read a still image as (H, W, 3) uint8 RGB.

    The EXIF orientation is applied (phone photos are stored sideways); transparency is composited on
    white; grayscale, palette, CMYK, 16-bit and 32-bit integer (TIFF) images are converted to 8-bit RGB.
    """
    path = Path(path)
    require_exists(path)
    if path.is_dir():
        raise MediaError(f"{path} is a folder; give a still image ({', '.join(IMAGE_EXTENSIONS)}) as the source")
    if is_video_path(path):
        raise MediaError(f"{path} is a video; give a still image as the source (e.g. one frame saved as .png)")
    try:
        with _open(path) as image:
            check_pixels(*image.size, str(path))  # from the header: before decoding costs any memory
            image.load()  # decode now, so a truncated file fails here and not later
            if image.format == "PNG":  # its chunks' checksums, and its end: Pillow's decoder checks neither
                _verify_png(path)
            unsigned32 = _tiff_uint32(image)  # the tags do not survive the transpose
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image, unsigned32)
    except _READ_ERRORS as error:
        raise _unreadable(path, error) from error


PNG_END = b"IEND\xaeB`\x82"  # the last chunk of every PNG: its type and its (fixed) checksum


def _verify_png(path: Path) -> None:
    """Raise SyntaxError for a PNG whose chunks fail their checksums or that stops before its end chunk
    (bytes appended after the end, as some tools do, are allowed)."""
    with _open(path) as image:
        image.verify()
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - (64 << 10)))
        if PNG_END not in file.read():
            raise SyntaxError("truncated PNG file: no end chunk")


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of the image :func:`read_image` returns, from the file's header (the EXIF
    orientation applied), without decoding the pixels."""
    path = Path(path)
    require_exists(path)
    try:
        with _open(path) as image:
            height, width = image.height, image.width
            turned = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # the orientations that swap the sides
    except _READ_ERRORS as error:
        raise _unreadable(path, error) from error
    return (width, height) if turned else (height, width)


def write_image(path: str | Path, image: np.ndarray, **options) -> Path:
    """Write (H, W, 3) or (H, W) uint8 ``image`` to ``path`` in the format its extension names (png, jpg,
    webp, bmp), atomically: a temporary file renamed into place, so a kill never leaves half a picture.
    ``options`` go to Pillow's ``save`` (e.g. ``compress_level=1``)."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MediaError(f"cannot write {path}: unsupported image extension {path.suffix or '(none)'!r}; "
                         f"use {', '.join(_FORMATS)}")
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format=fmt, **options)
    return path


@contextlib.contextmanager
def _open(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` under fomm's pixel limit (:data:`fomm.limits.IMAGE_PIXELS`) instead of Pillow's
    (a warning at 89 MP, an error at twice that), which fomm's limit replaces."""
    limit = IMAGE_PIXELS.value
    if Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit  # the user raised fomm's limit: Pillow's must follow
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError:
            raise LimitError(f"{path} is over {2 * Image.MAX_IMAGE_PIXELS:,} pixels, Pillow's limit; set "
                             f"{IMAGE_PIXELS.env} to a larger number of pixels to allow it") from None
    with image:
        yield image


def _unreadable(path: Path, error: BaseException) -> MediaError:
    return MediaError(f"cannot read {path} as an image ({error}); check that it is a complete "
                      f"{'/'.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)} file")


def _tiff_uint32(image: Image.Image) -> bool | None:
    """For a 32-bit integer TIFF (Pillow mode "I"): True if its samples are unsigned, False if signed;
    None for anything else (mode "I" also holds 16-bit PNG data)."""
    tags = getattr(image, "tag_v2", None)
    if image.mode != "I" or tags is None:
        return None
    bits = tags.get(258, (0,))  # BitsPerSample
    if (bits[0] if isinstance(bits, tuple) else bits) != 32:
        return None
    sample_format = tags.get(339, (1,))  # 1 unsigned, 2 signed
    return (sample_format[0] if isinstance(sample_format, tuple) else sample_format) != 2


def _to_rgb(image: Image.Image, unsigned32: bool | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any Pillow mode. ``unsigned32``: mode "I" holds 32-bit TIFF samples,
    unsigned (True) or signed (False; negatives become black), scaled from their full range."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I"):
        # 16-bit grayscale: Pillow's own conversion to 8 bits clips instead of scaling.
        gray = np.asarray(image)
        if unsigned32 is None:
            top = 65535.0
        elif unsigned32:
            gray, top = gray.view(np.uint32), 2.0**32 - 1  # Pillow reads uint32 samples as int32
        else:
            top = 2.0**31 - 1
        gray = np.clip(np.round(gray.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        gray = np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.array(image.convert("RGB"), dtype=np.uint8)
