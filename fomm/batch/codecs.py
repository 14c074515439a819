"""Which video decoder and encoder a batch worker should use on its device, with the reason.

On CUDA, decoding can run on the GPU's NVDEC through PyAV's ``hwaccel`` (FFmpeg's ``cuda`` device),
and encoding on NVENC (``h264_nvenc``). Neither is certain: PyAV's FFmpeg may be built without them,
and datacenter GPUs such as the H100/H200 have NVDEC but no NVENC. So each is tried the cheap way
(is the hwaccel compiled in and is there a CUDA device; does an NVENC encoder actually open) and
falls back to the CPU: FFmpeg's software decoders, and libx264, which threads itself.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from fractions import Fraction

logger = logging.getLogger(__name__)

CPU_DECODER, NVDEC = "cpu", "nvdec"
LIBX264, NVENC = "libx264", "h264_nvenc"


@dataclass(frozen=True)
class CodecChoice:
    """The codec picked and why (shown once per batch, so a fallback is never silent)."""

    name: str
    hardware: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


def _is_cuda(device: str | None) -> bool:
    return device is not None and str(device).startswith("cuda")


def hwaccel_devices() -> list[str]:
    """The hardware device types PyAV's FFmpeg was built with (``cuda``, ``vaapi``, ...)."""
    try:
        from av.codec.hwaccel import hwdevices_available
    except ImportError:  # PyAV before 14
        return []
    return list(hwdevices_available())


def choose_decoder(device: str | None, *, devices: list[str] | None = None,
                   cuda_available: bool | None = None) -> CodecChoice:
    """NVDEC for a CUDA worker when PyAV's FFmpeg has the ``cuda`` hwaccel and a GPU is there, else the
    CPU. (``devices``/``cuda_available`` replace the probes, for tests.) Even with NVDEC a stream whose
    codec it cannot decode falls back to the CPU (``allow_software_fallback``)."""
    if not _is_cuda(device):
        return CodecChoice(CPU_DECODER, False, "the worker runs on the CPU")
    devices = hwaccel_devices() if devices is None else devices
    if "cuda" not in devices:
        return CodecChoice(CPU_DECODER, False, "PyAV's FFmpeg was built without the cuda hwaccel (NVDEC)")
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        return CodecChoice(CPU_DECODER, False, "no CUDA device is visible")
    return CodecChoice(NVDEC, True, "PyAV hwaccel cuda, CPU fallback per stream")


def hwaccel_for(choice: CodecChoice):
    """The ``hwaccel`` argument of ``av.open`` for a decoder choice (None on the CPU)."""
    if choice.name != NVDEC:
        return None
    from av.codec.hwaccel import HWAccel

    return HWAccel(device_type="cuda", allow_software_fallback=True)


@functools.cache
def nvenc_opens() -> str | None:
    """None when an ``h264_nvenc`` encoder opens on this machine, else why not (FFmpeg's words)."""
    import av

    if NVENC not in av.codecs_available:
        return "PyAV's FFmpeg was built without h264_nvenc"
    try:
        context = av.CodecContext.create(NVENC, "w")
        context.width, context.height, context.pix_fmt = 64, 64, "yuv420p"
        context.time_base = Fraction(1, 25)
        context.open()
    except (av.FFmpegError, ValueError) as exc:
        return f"h264_nvenc does not open here ({exc}); datacenter GPUs such as the H100/H200 have no NVENC"
    return None


def choose_encoder(device: str | None, *, nvenc_problem: str | None | bool = False) -> CodecChoice:
    """NVENC for a CUDA worker whose GPU has it, else libx264 (threaded by FFmpeg). ``nvenc_problem``
    replaces the probe, for tests: None means NVENC opens, a string why it does not."""
    if not _is_cuda(device):
        return CodecChoice(LIBX264, False, "the worker runs on the CPU")
    problem = nvenc_opens() if nvenc_problem is False else nvenc_problem
    if problem is not None:
        return CodecChoice(LIBX264, False, problem)
    return CodecChoice(NVENC, True, "the GPU's NVENC")


def open_input(path, choice: CodecChoice, **kwargs):
    """``av.open(path)`` decoding on NVDEC when ``choice`` says so; when the device cannot be opened
    (no GPU after all, a driver too old) the file is opened again for the CPU, and the reason logged."""
    import av

    hwaccel = hwaccel_for(choice)
    if hwaccel is not None:
        try:
            return av.open(path, hwaccel=hwaccel, **kwargs)
        except av.FFmpegError as exc:
            logger.warning("NVDEC unavailable for %s (%s); decoding on the CPU", path, exc)
    return av.open(path, **kwargs)
