"""Which video decoder and encoder a run uses, and why: the CPU's, or the GPU's NVDEC and NVENC.

On CUDA, decoding can run on the GPU's NVDEC through PyAV's ``hwaccel`` (FFmpeg's ``cuda`` device),
and encoding on NVENC (``h264_nvenc``). Neither is certain: PyAV's FFmpeg may be built without them,
and datacenter GPUs such as the H100/H200 have NVDEC but no NVENC. So each is tried the cheap way
(is the hwaccel compiled in and is there a CUDA device; does an NVENC encoder actually open) and,
with ``codec_device="auto"``, falls back to the CPU: FFmpeg's software decoders, and libx264, which
threads itself. The reason of a fallback on a CUDA run is logged once per process, never silent.

``codec_device`` (an :class:`fomm.AnimationOptions` field, ``--codec-device``): ``auto`` (the GPU's
codecs when the networks run on CUDA and they open, else the CPU's), ``cpu`` (always the CPU's: the
output is bit-identical to a CPU run's), ``cuda`` (the GPU's, or an error saying why not).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from fractions import Fraction

from .errors import MediaError

logger = logging.getLogger(__name__)

CODEC_DEVICES = ("auto", "cpu", "cuda")  # fomm.animation.options.CODEC_DEVICES (kept equal by a test)
CPU_DECODER, NVDEC = "cpu", "nvdec"
LIBX264, NVENC = "libx264", "h264_nvenc"


class CodecUnavailable(MediaError):
    """``codec_device="cuda"`` and a GPU codec is missing: ``problem`` says which and why (callers add
    the fix in their own words: the codec device auto or cpu)."""

    def __init__(self, problem: str):
        self.problem = problem
        super().__init__(f"codec_device='cuda': {problem}; use codec_device='auto' (the GPU's codecs where they "
                         "open, else the CPU's) or 'cpu'")


@dataclass(frozen=True)
class CodecChoice:
    """The codec picked and why. ``required``: asked for explicitly (``codec_device="cuda"``), so a
    GPU codec that fails to open is an error instead of a fallback; ``gpu``: the CUDA device index."""

    name: str
    hardware: bool
    reason: str
    required: bool = False
    gpu: int = 0

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


@dataclass(frozen=True)
class Codecs:
    """The decoder of the driving video and the encoder of H.264 outputs of one run."""

    decoder: CodecChoice
    encoder: CodecChoice


CPU_DECODING = CodecChoice(CPU_DECODER, False, "the CPU's decoders")
CPU_ENCODING = CodecChoice(LIBX264, False, "the CPU's libx264")
CPU_CODECS = Codecs(CPU_DECODING, CPU_ENCODING)


def _is_cuda(device) -> bool:
    return device is not None and str(device).startswith("cuda")


def _gpu_index(device) -> int:
    text = str(device)
    return int(text.split(":", 1)[1]) if ":" in text else 0


def hwaccel_devices() -> list[str]:
    """The hardware device types PyAV's FFmpeg was built with (``cuda``, ``vaapi``, ...)."""
    try:
        from av.codec.hwaccel import hwdevices_available
    except ImportError:  # PyAV before 14
        return []
    return list(hwdevices_available())


def choose_decoder(device, *, devices: list[str] | None = None, cuda_available: bool | None = None) -> CodecChoice:
    """NVDEC for a CUDA ``device`` when PyAV's FFmpeg has the ``cuda`` hwaccel and a GPU is there, else the
    CPU. (``devices``/``cuda_available`` replace the probes, for tests.) Even with NVDEC a stream whose
    codec it cannot decode falls back to the CPU (``allow_software_fallback``)."""
    if not _is_cuda(device):
        return CodecChoice(CPU_DECODER, False, "the networks run on the CPU")
    devices = hwaccel_devices() if devices is None else devices
    if "cuda" not in devices:
        return CodecChoice(CPU_DECODER, False, "PyAV's FFmpeg was built without the cuda hwaccel (NVDEC)")
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        return CodecChoice(CPU_DECODER, False, "no CUDA device is visible")
    return CodecChoice(NVDEC, True, "PyAV hwaccel cuda, CPU fallback per stream", gpu=_gpu_index(device))


@functools.cache
def nvenc_opens(gpu: int = 0) -> str | None:
    """None when an ``h264_nvenc`` encoder opens on GPU ``gpu``, else why not (FFmpeg's words)."""
    import av

    if NVENC not in av.codecs_available:
        return "PyAV's FFmpeg was built without h264_nvenc"
    try:
        context = av.CodecContext.create(NVENC, "w")
        context.width, context.height, context.pix_fmt = 64, 64, "yuv420p"
        context.time_base = Fraction(1, 25)
        context.options = {"gpu": str(gpu)}
        context.open()
    except (av.FFmpegError, ValueError) as exc:
        return f"h264_nvenc does not open here ({exc}); datacenter GPUs such as the H100/H200 have no NVENC"
    return None


def choose_encoder(device, *, nvenc_problem: str | None | bool = False) -> CodecChoice:
    """NVENC for a CUDA ``device`` whose GPU has it, else libx264 (threaded by FFmpeg). ``nvenc_problem``
    replaces the probe, for tests: None means NVENC opens, a string why it does not."""
    if not _is_cuda(device):
        return CodecChoice(LIBX264, False, "the networks run on the CPU")
    gpu = _gpu_index(device)
    problem = nvenc_opens(gpu) if nvenc_problem is False else nvenc_problem
    if problem is not None:
        return CodecChoice(LIBX264, False, problem)
    return CodecChoice(NVENC, True, "the GPU's NVENC", gpu=gpu)


def select_codecs(codec_device: str = "auto", device=None, *, devices: list[str] | None = None,
                  cuda_available: bool | None = None, nvenc_problem: str | None | bool = False) -> Codecs:
    """The codecs of a run whose networks are on ``device`` (a torch device or its name; None: the CPU).

    ``auto``: NVDEC/NVENC where the device is CUDA and they open, else the CPU's (the reason logged
    once); ``cpu``: the CPU's; ``cuda``: the GPU's (of ``device`` when it is CUDA, else GPU 0), and
    :class:`CodecUnavailable` naming the reason when one is missing. The keyword arguments replace the
    probes, for tests."""
    if codec_device not in CODEC_DEVICES:
        raise ValueError(f"codec_device must be one of {', '.join(CODEC_DEVICES)}, got {codec_device!r}")
    if codec_device == "cpu":
        return CPU_CODECS
    if codec_device == "cuda" and not _is_cuda(device):
        device = "cuda"
    decoder = choose_decoder(device, devices=devices, cuda_available=cuda_available)
    encoder = choose_encoder(device, nvenc_problem=nvenc_problem)
    if codec_device == "cuda":
        for choice, what in ((decoder, "NVDEC decoding"), (encoder, "NVENC encoding")):
            if not choice.hardware:
                raise CodecUnavailable(f"no {what}: {choice.reason}")
        return Codecs(_required(decoder), _required(encoder))
    if _is_cuda(device):
        for choice in (decoder, encoder):
            _announce(choice)
    return Codecs(decoder, encoder)


def _required(choice: CodecChoice) -> CodecChoice:
    return CodecChoice(choice.name, choice.hardware, choice.reason, required=True, gpu=choice.gpu)


@functools.cache
def _announce(choice: CodecChoice) -> None:
    """Log a CUDA run's codec once per process: a fallback to the CPU as a warning, with its reason."""
    if choice.hardware:
        logger.info("video codec: %s", choice)
    else:
        logger.warning("video codec on the CPU: %s", choice)


_nvdec_broken: dict[int, str] = {}  # GPU -> why NVDEC did not open there: later files go straight to the CPU


def hwaccel_for(choice: CodecChoice):
    """The ``hwaccel`` argument of ``av.open`` for a decoder choice (None on the CPU)."""
    if choice.name != NVDEC:
        return None
    from av.codec.hwaccel import HWAccel

    return HWAccel(device_type="cuda", device=str(choice.gpu), allow_software_fallback=True)


def open_input(path, choice: CodecChoice = CPU_DECODING, **kwargs):
    """``av.open(path)``, decoding on NVDEC when ``choice`` says so. When the device cannot be opened (no
    GPU after all, a driver too old), a required NVDEC is :class:`CodecUnavailable`; otherwise the file is
    opened for the CPU, and the reason logged (once: later files of this process skip NVDEC)."""
    import av

    hwaccel = hwaccel_for(choice)
    if hwaccel is not None and (choice.required or choice.gpu not in _nvdec_broken):
        try:
            return av.open(path, hwaccel=hwaccel, **kwargs)
        except av.FFmpegError as exc:
            if choice.required:
                raise CodecUnavailable(f"NVDEC does not open for {path} ({exc})") from None
            _nvdec_broken[choice.gpu] = str(exc)
            logger.warning("NVDEC does not open on GPU %d (%s); decoding on the CPU", choice.gpu, exc)
    return av.open(path, **kwargs)


def nvenc_options(crf: int, choice: CodecChoice) -> dict[str, str]:
    """h264_nvenc options for about libx264's quality at ``crf``: constant quality ``cq`` in VBR mode,
    the balanced preset, on the choice's GPU."""
    return {"rc": "vbr", "cq": str(max(1, crf)), "b": "0", "preset": "p4", "gpu": str(choice.gpu)}
