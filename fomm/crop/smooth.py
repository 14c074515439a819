"""Temporal smoothing of what is tracked over frames (face boxes, keypoints, jacobians): detectors
and keypoint networks carry frame-to-frame noise that, animated, reads as a shaking head.

Two smoothers, one strength (``--smooth off|auto|STRENGTH``, STRENGTH in frames):

- files (:func:`zero_phase`): a Gaussian over time with a standard deviation of STRENGTH frames,
  applied to the whole sequence at once. It is symmetric, so it adds no delay: a step stays where
  it was and a steady motion is followed exactly.
- live (:class:`OneEuro`): the One Euro filter (Casiez, Roussel and Vogel, CHI 2012), causal: a
  low-pass whose cut-off rises with the signal's speed, so it steadies a still head and follows a
  moving one with little lag. Its slow cut-off is the one of a STRENGTH-frame time constant.

``benchmarks/smoothing.py`` measures jitter and lag with and without them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .box import CropError

AUTO_STRENGTH = 2.0  # frames: what ``auto`` means (jitter at least halved, lag within 2 frames)


@dataclass(frozen=True)
class Smoothing:
    """How much to smooth: ``strength`` in frames (0: off)."""

    strength: float = AUTO_STRENGTH

    def __post_init__(self) -> None:
        if not (math.isfinite(self.strength) and self.strength >= 0):
            raise CropError(f"smoothing strength must be a number of frames >= 0, got {self.strength}")

    @property
    def enabled(self) -> bool:
        return self.strength > 0


def parse_smooth(text: str | float | None, default: str = "auto") -> Smoothing:
    """``"off"``, ``"auto"`` or a strength in frames (``"3"``, ``2.5``) -> :class:`Smoothing`; anything else
    is refused in one line naming the accepted values. None: ``default``."""
    value = default if text is None else text
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "off":
            return Smoothing(0.0)
        if word == "auto":
            return Smoothing(AUTO_STRENGTH)
        try:
            value = float(word)
        except ValueError:
            value = math.nan  # refused below
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise CropError(f"--smooth must be off, auto or a strength in frames > 0 (e.g. 2), got {text!r}")
    return Smoothing(float(value))


def zero_phase(values: np.ndarray, smoothing: Smoothing | float) -> np.ndarray:
    """``values`` (T, ...) smoothed along time (axis 0) without delay: a Gaussian of ``strength`` frames,
    the ends held (not pulled toward zero). Any array: box parameters, keypoints (T, K, 2), jacobians
    (T, K, 2, 2)."""
    strength = smoothing.strength if isinstance(smoothing, Smoothing) else float(smoothing)
    values = np.asarray(values, dtype=np.float64)
    if strength <= 0 or len(values) < 2:
        return values.copy()
    return gaussian_filter1d(values, strength, axis=0, mode="nearest")


class OneEuro:
    """The One Euro filter for a live stream: ``filter(x)`` per frame, ``x`` an array of any fixed shape.

    ``strength``: the slow cut-off's time constant in frames (the still signal is averaged over about
    that many frames); ``beta``: how fast the cut-off rises with speed, per unit of ``scale`` (the
    signal's size, e.g. a box's side in pixels, or 1 for normalized keypoints) per frame.
    """

    def __init__(self, smoothing: Smoothing | float = AUTO_STRENGTH, *, beta: float = 2.0, scale: float = 1.0,
                 derivative_cutoff: float = 1.0 / (2 * math.pi)):
        strength = smoothing.strength if isinstance(smoothing, Smoothing) else float(smoothing)
        self.min_cutoff = math.inf if strength <= 0 else 1.0 / (2 * math.pi * strength)  # cycles per frame
        self.beta = beta / scale
        self.derivative_cutoff = derivative_cutoff
        self.previous: np.ndarray | None = None
        self.speed: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau)  # one frame per step

    def __call__(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self.previous is None or math.isinf(self.min_cutoff):
            self.previous, self.speed = value.copy(), np.zeros_like(value)
            return value.copy()
        a_d = self._alpha(self.derivative_cutoff)
        self.speed = a_d * (value - self.previous) + (1 - a_d) * self.speed
        alpha = self._alpha(self.min_cutoff + self.beta * np.abs(self.speed))
        self.previous = alpha * value + (1 - alpha) * self.previous
        return self.previous.copy()

    def reset(self) -> None:
        """Forget the past (at a cut, or when the subject was lost)."""
        self.previous = self.speed = None


def causal(values: np.ndarray, smoothing: Smoothing | float, **options) -> np.ndarray:
    """A whole sequence run through :class:`OneEuro` frame by frame (what live mode would show)."""
    one_euro = OneEuro(smoothing, **options)
    return np.stack([one_euro(v) for v in np.asarray(values)])  # each frame made float64 by the filter


def jitter(centers: np.ndarray, size: float | np.ndarray) -> float:
    """The median size of the second difference of a trajectory (T, ..., 2) over ``size``: how much it
    shakes from frame to frame (a steady motion has none)."""
    second = np.diff(np.asarray(centers, dtype=np.float64), n=2, axis=0)
    magnitude = np.linalg.norm(second, axis=-1)
    size = np.asarray(size)
    return float(np.median(magnitude / (size[1:-1].reshape((-1,) + (1,) * (magnitude.ndim - 1))
                                       if size.ndim else size)))


def step_lag(smoothed: np.ndarray, start: int, low: float, high: float) -> int:
    """Frames from a step at ``start`` (from ``low`` to ``high``) until ``smoothed`` (T,) is past half-way."""
    half = (low + high) / 2
    rising = high > low
    for t in range(start, len(smoothed)):
        if (smoothed[t] >= half) if rising else (smoothed[t] <= half):
            return t - start
    return len(smoothed) - start


# ------------------------------------------------------------------ a model's motion over frames
def _motion_tensors(motion) -> dict:
    """The tensor fields of a motion batch (FOMM/TPSMM ``Keypoints``: value, jacobian; MRAA ``Regions``:
    shift, affine, covar), by name; fields that are None are left out."""
    import dataclasses

    import torch

    return {f.name: getattr(motion, f.name) for f in dataclasses.fields(motion)
            if isinstance(getattr(motion, f.name), torch.Tensor)}


def _sign_aligned(motion, previous=None):
    """(motion, restore): a family's motion whose fields may flip sign from frame to frame (MRAA's
    affines, from an SVD) made continuous for averaging, and the function that undoes it."""
    align = getattr(motion, "sign_aligned", None)
    return align(previous) if align is not None else (motion, lambda smoothed: smoothed)


def smooth_motion(motion, smoothing: Smoothing | float):
    """A motion batch over time (batch = frames, in order) smoothed without delay, every field alike
    (keypoints and jacobians; a family's regions)."""
    import dataclasses

    import torch

    motion, restore = _sign_aligned(motion)
    smoothed = {name: torch.as_tensor(zero_phase(t.detach().float().cpu().numpy(), smoothing), dtype=t.dtype,
                                      device=t.device) for name, t in _motion_tensors(motion).items()}
    return restore(dataclasses.replace(motion, **smoothed))


class MotionFilter:
    """:class:`OneEuro` on every field of a live stream's motion (one frame per call, batch 1)."""

    def __init__(self, smoothing: Smoothing | float = AUTO_STRENGTH, **options):
        self.smoothing, self.options = smoothing, options
        self.filters: dict[str, OneEuro] = {}
        self.previous = None  # the last frame's sign-aligned motion (see _sign_aligned)

    def __call__(self, motion):
        import dataclasses

        import torch

        motion, restore = _sign_aligned(motion, self.previous)
        self.previous = motion
        fields = {}
        for name, tensor in _motion_tensors(motion).items():
            one_euro = self.filters.setdefault(name, OneEuro(self.smoothing, **self.options))
            value = one_euro(tensor.detach().float().cpu().numpy())
            fields[name] = torch.as_tensor(value, dtype=tensor.dtype, device=tensor.device)
        return restore(dataclasses.replace(motion, **fields))

    def reset(self) -> None:
        self.filters.clear()
        self.previous = None
