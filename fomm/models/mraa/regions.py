"""MRAA's motion representation: each region as a shift, an affine and a covariance (paper Sec. 3.1).

A region's heatmap M_k gives, by principal component analysis, its shift (the mean), its
covariance (the second moment about the mean) and an affine A_k = U_k S_k^(1/2) from the SVD of the
covariance. Two regions are then related by z -> mu_S + A_S A_D^-1 (z - mu_D) (paper Eq. 2).
"""

from __future__ import annotations

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
        if len(self) == batch:
            return self
        return self._map(lambda t: t.expand(batch, *t.shape[1:]))

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

    The sign of each singular vector is whatever LAPACK's SVD returns on the CPU in float32: the
    published weights were trained with exactly that convention (the authors move the covariances
    to the CPU for the SVD), and a region's affine, hence the motion A_S A_D^-1, depends on it. So
    the SVD runs there on every device; the matrices are tiny (B x K x 4 numbers).
    """
    flat = covar.reshape(-1, 2, 2)
    u, s, _ = torch.linalg.svd(flat.cpu().float())
    u = u.to(covar.device, covar.dtype)
    sqrt_s = torch.diag_embed(s.sqrt()).to(covar.device, covar.dtype)
    return u.view(covar.shape), sqrt_s.view(covar.shape)


def regions_from_heatmap(heatmap: torch.Tensor) -> Regions:
    """Shift, PCA affine and covariance of each region's heatmap."""
    with float32_math(heatmap):
        shift, covar = heatmap_moments(heatmap)
        u, sqrt_s = pca_affine(covar)
        return Regions(shift, u @ sqrt_s, covar)


def affine_covariance(affine: torch.Tensor) -> torch.Tensor:
    """Covariance A A^T of an affine A = U S^(1/2) (the inverse of :func:`pca_affine`)."""
    return affine @ affine.transpose(-1, -2)
