"""Driving regions carried onto the source for animation: the published demo's ``standard`` (our
``absolute``), ``relative`` and ``avd`` modes."""

from __future__ import annotations

from ..blocks import float32_math, inverse_2x2
from .avd_network import AVDNetwork
from .regions import Regions


def relative_regions(source: Regions, driving: Regions, driving_initial: Regions, scale: float) -> Regions:
    """The driving motion since the initial frame, carried onto the source: shift
    mu_S + (mu_D - mu_D0) * scale, affine A_D A_D0^-1 A_S; the driving covariance is kept (as the
    authors' demo). ``scale`` is sqrt(hull area of the source / hull area of the initial frame),
    which MRAA's demo always applies."""
    with float32_math(driving.shift):
        shift = (driving.shift - driving_initial.shift) * scale + source.shift
        affine = driving.affine @ inverse_2x2(driving_initial.affine) @ source.affine
    return Regions(shift, affine, driving.covar)


def avd_regions(avd_network: AVDNetwork, source: Regions, driving: Regions) -> Regions:
    """Animation via disentanglement: the source's identity in the driving frame's pose."""
    return avd_network(source, driving)
