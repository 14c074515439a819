"""Inference precision: which floating-point format the convolutions run in, chosen once at the edge.

``fp32`` is exact (the published checkpoints' outputs to 1e-4). ``bf16`` and ``fp16`` run the
convolutions under ``torch.autocast`` while the networks keep their numerically sensitive parts in
float32 (the keypoint soft-argmax and jacobians, the 2x2 inverse, the heatmaps and the ``grid_sample``
coordinates): on hardware with native support they are several times faster at a PSNR well above
40 dB against fp32. Without native support they are *slower* than fp32 (the arithmetic is emulated),
so they are refused unless ``allow_slow`` (or ``FOMM_ALLOW_SLOW_PRECISION=1``) asks for them anyway,
e.g. to check their numerics on any machine.

``auto`` is the fastest precision known to meet the quality bar on the device, fp32 where unsure:
bf16 on CPUs with AVX512-BF16 or AMX, bf16 on CUDA GPUs that support it (Ampere and later), fp16 on
older CUDA GPUs with tensor cores, fp32 everywhere else.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import FommError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
ALLOW_SLOW_ENV = "FOMM_ALLOW_SLOW_PRECISION"


class PrecisionError(FommError, ValueError):
    """The requested precision is unknown or not supported (fast) on this device."""


@dataclass(frozen=True)
class CpuFeatures:
    """What this CPU offers for reduced-precision arithmetic."""

    model: str
    avx512_bf16: bool  # bf16 dot products (Cooper Lake, Zen 4 and later): bf16 about 2x fp32
    amx_bf16: bool  # AMX tiles (Sapphire Rapids and later): bf16 about 4-8x fp32
    amx_fp16: bool  # AMX-FP16 (Granite Rapids)

    @property
    def fast_bf16(self) -> bool:
        return self.avx512_bf16 or self.amx_bf16

    def describe(self) -> str:
        def yes(flag: bool) -> str:
            return "yes" if flag else "no"

        return (f"{self.model} (avx512_bf16: {yes(self.avx512_bf16)}, amx_bf16: {yes(self.amx_bf16)}, "
                f"amx_fp16: {yes(self.amx_fp16)})")


def _cpu_flag(name: str) -> bool:
    check = getattr(torch.cpu, name, None)  # private helpers of torch.cpu; absent on other builds
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@functools.cache
def cpu_features() -> CpuFeatures:
    """This CPU's model name and its bf16/fp16 features, as PyTorch's kernels see them."""
    return CpuFeatures(_cpu_model(), _cpu_flag("_is_avx512_bf16_supported"), _cpu_flag("_is_amx_tile_supported"),
                       _cpu_flag("_is_amx_fp16_supported"))


def _cuda_fast(device: torch.device) -> list[str]:
    """The reduced precisions a CUDA device runs natively (tensor cores), best first."""
    major, _ = torch.cuda.get_device_capability(device)
    fast = []
    if major >= 8 and torch.cuda.is_bf16_supported():
        fast.append("bf16")
    if major >= 7:
        fast.append("fp16")
    return fast


def fast_precisions(device: torch.device | str) -> list[str]:
    """The reduced precisions that are faster than fp32 on ``device``, best first."""
    device = torch.device(device)
    if device.type == "cpu":
        features = cpu_features()
        return (["bf16"] if features.fast_bf16 else []) + (["fp16"] if features.amx_fp16 else [])
    if device.type == "cuda":
        return _cuda_fast(device)
    return []  # MPS and others: not measured, so fp32 unless asked explicitly


def _slow_allowed(allow_slow: bool) -> bool:
    return allow_slow or os.environ.get(ALLOW_SLOW_ENV, "") not in ("", "0")


def resolve_precision(precision: str | torch.dtype, device: torch.device | str,
                      allow_slow: bool = False) -> torch.dtype:
    """The dtype the convolutions run in for ``precision`` (``auto``, ``fp32``, ``bf16``, ``fp16`` or a
    torch dtype) on ``device``; refuses a reduced precision the device would only emulate, unless
    ``allow_slow`` (or the environment variable ``FOMM_ALLOW_SLOW_PRECISION=1``)."""
    device = torch.device(device)
    if isinstance(precision, torch.dtype):
        if precision not in NAMES:
            raise PrecisionError(f"precision must be one of {', '.join(DTYPES)}, got {precision}")
        precision = NAMES[precision]
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    fast = fast_precisions(device)
    if precision == "auto":
        return DTYPES[fast[0]] if fast else torch.float32
    if precision == "fp32" or precision in fast or _slow_allowed(allow_slow):
        return DTYPES[precision]
    if device.type == "cpu":
        missing = "avx512_bf16 or amx_bf16" if precision == "bf16" else "amx_fp16"
        raise PrecisionError(
            f"precision {precision}: this CPU has no native {precision} arithmetic ({cpu_features().describe()}; "
            f"it needs {missing}), so {precision} would run slower than fp32; use fp32 or auto (set "
            f"{ALLOW_SLOW_ENV}=1 or pass allow_slow=True to run it emulated anyway, for accuracy checks)")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        raise PrecisionError(f"precision {precision}: {name} has no fast {precision} (tensor cores); use "
                             f"{'fp16' if 'fp16' in fast else 'fp32'} or auto (set {ALLOW_SLOW_ENV}=1 "
                             "to run it anyway)")
    raise PrecisionError(f"precision {precision}: not measured on {device.type}; use fp32 (set "
                         f"{ALLOW_SLOW_ENV}=1 to try it anyway)")


def autocast(device: torch.device | str, dtype: torch.dtype):
    """A context running the convolutions in ``dtype`` (a no-op for float32)."""
    device = torch.device(device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@dataclass(frozen=True)
class Precision:
    """A precision chosen for one device, as every caller uses it: the animator's backend, the
    evaluation and the trainer resolve the user's word once (:meth:`resolve`) and run their networks
    under :meth:`autocast`."""

    dtype: torch.dtype
    device: torch.device

    @classmethod
    def resolve(cls, precision: str | torch.dtype, device: torch.device | str, allow_slow: bool = False) -> Precision:
        """See :func:`resolve_precision`; ``auto`` becomes the concrete precision it picks."""
        device = torch.device(device)
        return cls(resolve_precision(precision, device, allow_slow), device)

    @property
    def name(self) -> str:
        """``fp32``, ``bf16`` or ``fp16``."""
        return NAMES[self.dtype]

    @property
    def native(self) -> bool:
        """Whether the device runs it natively (fp32 always); False when it is emulated, slower than fp32."""
        return self.dtype == torch.float32 or self.name in fast_precisions(self.device)

    def autocast(self):
        """The region the networks run in (a no-op for fp32)."""
        return autocast(self.device, self.dtype)
