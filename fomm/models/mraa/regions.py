"""MRAA's motion representation: each region as a shift, an affine and a covariance (paper Sec. 3.1).

A region's heatmap M_k gives, by principal component analysis, its shift (the mean), its
covariance (the second moment about the mean) and an affine A_k = U_k S_k^(1/2) from the SVD of the
covariance. Two regions are then related by z -> mu_S + A_S A_D^-1 (z - mu_D) (paper Eq. 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..blocks import float32_math, full_precision, make_coordinate_grid


@dataclass
class Regions:
    """Regions in normalized [-1, 1] coordinates, x first: ``shift`` (B, K, 2), ``affine`` and
    ``covar`` (B, K, 2, 2). ``value`` (the shift) is what is drawn, written and compared."""

    shift: torch.Tensor
    affine: torch.Tensor
    covar: torch.Tensor

    @property
    def value(self) -> torch.Tensor:
        return self.shift

    @property
    def jacobian(self) -> torch.Tensor:
        """The affine, under the name of FOMM's local jacobians (the same role: a 2x2 linear map
        around each point), for code that writes or draws either."""
        return self.affine

    def _map(self, fn) -> Regions:
        return Regions(fn(self.shift), fn(self.affine), fn(self.covar))

    def to(self, *args, **kwargs) -> Regions:
        return self._map(lambda t: t.to(*args, **kwargs))

    def detach(self) -> Regions:
        return self._map(torch.Tensor.detach)

    def __getitem__(self, index) -> Regions:
        return self._map(lambda t: t[index])

    def __len__(self) -> int:
        return self.shift.shape[0]

    def expand(self, batch: int) -> Regions:
        """Batch 1 broadcast to ``batch`` (one source against a batch of driving frames)."""
        if self.shift.shape[0] == batch:
            return self
        return self._map(lambda t: t.expand(batch, *t.shape[1:]))

    def sign_aligned(self, previous: Regions | None = None) -> tuple[Regions, Callable[[Regions], Regions]]:
        """These regions (batch = frames in order) with each frame's affines negated where needed so
        that they vary continuously (every frame's agrees in sign with the one before, the first with
        ``previous``'s last), and the function that gives a result back its original signs.

        An SVD's singular vectors have no sign of their own: LAPACK's convention flips a region's affine
        to -A as it turns past some angle. The motion does not see that (the flow's half-turn rule), but
        an average over frames (smoothing) of A and -A is near zero; so smoothing runs on aligned
        affines, and the AVD network, which reads the signs, gets LAPACK's back."""
        affine = self.affine
        agree = (affine[1:] * affine[:-1]).sum(dim=(-1, -2)) >= 0  # (B-1, K)
        first = torch.ones_like(affine[:1, :, 0, 0], dtype=torch.bool)
        if previous is not None:
            first = (affine[:1] * previous.affine[-1:]).sum(dim=(-1, -2)) >= 0
        steps = torch.where(torch.cat([first, agree]), 1.0, -1.0).to(affine.dtype)
        signs = torch.cumprod(steps, dim=0)[..., None, None]  # (B, K, 1, 1)

        def restore(regions: Regions) -> Regions:
            return Regions(regions.shift, regions.affine * signs, regions.covar)

        return restore(self), restore

    @staticmethod
    def cat(items: list[Regions]) -> Regions:
        return Regions(*(torch.cat([getattr(r, f) for r in items]) for f in ("shift", "affine", "covar")))


def heatmap_moments(heatmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (B, K, 2) and covariance (B, K, 2, 2) of normalized heatmaps (B, K, h, w) over the
    [-1, 1] grid (paper Eq. 1)."""
    heatmap = full_precision(heatmap)
    h, w = heatmap.shape[2:]
    grid = make_coordinate_grid((h, w), heatmap.dtype, heatmap.device)  # (h, w, 2)
    weights = heatmap.unsqueeze(-1)
    shift = (weights * grid).sum(dim=(2, 3))
    centred = grid - shift[:, :, None, None, :]  # (B, K, h, w, 2)
    covar = (weights.unsqueeze(-1) * centred.unsqueeze(-1) * centred.unsqueeze(-2)).sum(dim=(2, 3))
    return shift, covar


def pca_affine(covar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """U and diag(sqrt(S)) of the SVD of each 2x2 covariance; the affine is ``U @ diag(sqrt(S))``.

    The sign of the singular vectors is whatever LAPACK's SVD returns on the CPU in float32: the
    published weights were trained with that convention (the authors move the covariances to the
    CPU for the SVD), and the AVD network reads the affines' signs. So the SVD runs there on every
    device (the matrices are tiny: B x K x 4 numbers). An ONNX export, which has no SVD, traces
    :func:`pca_affine_closed_form` instead.
    """
    if torch.onnx.is_in_onnx_export():
        return pca_affine_closed_form(covar)
    flat = covar.reshape(-1, 2, 2)
    u, s, _ = torch.linalg.svd(flat.cpu().float())
    u = u.to(covar.device, covar.dtype)
    sqrt_s = torch.diag_embed(s.sqrt()).to(covar.device, covar.dtype)
    return u.view(covar.shape), sqrt_s.view(covar.shape)


def pca_affine_closed_form(covar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`pca_affine` in closed form, with LAPACK's signs.

    For a symmetric positive 2x2 matrix [[a, b], [b, c]] LAPACK's U is the reflection
    [[p, q], [q, -p]] whose first column (p, q) is the principal eigenvector; its sign follows from
    the algorithm: a Householder reflection H takes (a, b) to (-|(a, b)|, 0), H C = [[f, g], [0, h]]
    is then diagonalized by a rotation whose cosine is H (p, q)[0], non-negative except when g < 0
    and |f| < |h|. This agrees with torch.linalg.svd on the CPU for all but about 1 in 200,000 random
    covariances (those within rounding of the rule's boundary), and on every golden region. The
    relative and absolute motions do not depend on the sign at all (``revert_axis_swap``), AVD does.
    """
    a, b, c = covar[..., 0, 0], covar[..., 0, 1], covar[..., 1, 1]
    n = torch.sqrt(a * a + b * b)
    h00, h01, h11 = -a / n, -b / n, a / n  # the Householder reflection H
    f, g, h = -n, h00 * b + h01 * c, h01 * b + h11 * c  # H C, upper triangular
    half_gap = torch.sqrt(((a - c) / 2) ** 2 + b * b)
    large, small = (a + c) / 2 + half_gap, (a + c) / 2 - half_gap
    v1, v2 = torch.stack([b, large - a], -1), torch.stack([large - c, b], -1)  # both eigenvectors of `large`
    v = torch.where((v1.norm(dim=-1) >= v2.norm(dim=-1))[..., None], v1, v2)
    v = v / v.norm(dim=-1, keepdim=True)
    cosine = h00 * v[..., 0] + h01 * v[..., 1]
    negative = (g < 0) & (f.abs() < h.abs())  # the rotation's cosine is <= 0 there
    flip = (negative & (cosine > 0)) | (~negative & (cosine < 0))  # (no Where on booleans in onnxruntime)
    v = torch.where(flip[..., None], -v, v)
    p, q = v[..., 0], v[..., 1]
    u = torch.stack([torch.stack([p, q], -1), torch.stack([q, -p], -1)], -2)
    zeros = torch.zeros_like(a)
    sqrt_s = torch.stack([torch.stack([large.clamp(min=0).sqrt(), zeros], -1),
                          torch.stack([zeros, small.clamp(min=0).sqrt()], -1)], -2)
    return u, sqrt_s


def regions_from_heatmap(heatmap: torch.Tensor) -> Regions:
    """Shift, PCA affine and covariance of each region's heatmap."""
    with float32_math(heatmap):
        shift, covar = heatmap_moments(heatmap)
        u, sqrt_s = pca_affine(covar)
        return Regions(shift, u @ sqrt_s, covar)


def affine_covariance(affine: torch.Tensor) -> torch.Tensor:
    """Covariance A A^T of an affine A = U S^(1/2) (the inverse of :func:`pca_affine`)."""
    return affine @ affine.transpose(-1, -2)
