"""Thin-plate-spline transforms of the Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022).

:class:`KeypointTPS` is Eq. 2: K transforms, each fitted to map 5 driving keypoints onto the 5 matching
source keypoints. :class:`RandomTPS` is the random transform of the equivariance loss. Both use the
kernel U(r) = r^2 log r^2 (with 1e-9 inside the log, as the authors' code: kept for checkpoint
fidelity). The fit and the warps run in float32 even under bf16/fp16 autocast: they are sampling
coordinates (see :func:`fomm.models.blocks.float32_math`).
"""

from __future__ import annotations

import torch

from .blocks import float32_math, full_precision, make_coordinate_grid

RIDGE = 0.01  # added to the diagonal of the TPS system (the authors' regularization)


def tps_kernel(squared_distance: torch.Tensor) -> torch.Tensor:
    """U(r) = r^2 log(r^2), from r^2."""
    return squared_distance * torch.log(squared_distance + 1e-9)


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., N, 2), (..., M, 2) -> (..., N, M) squared euclidean distances."""
    return ((a.unsqueeze(-2) - b.unsqueeze(-3)) ** 2).sum(-1)


class KeypointTPS:
    """K thin-plate splines from driving to source keypoints (paper Eq. 2), batched as (B, K).

    ``kp_driving``, ``kp_source``: (B, K, n, 2) with n = 5 control points per transform. Solves the
    (n + 3) x (n + 3) system [[U(|p_i - p_j|), P], [P^T, 0]] + 0.01 I for the affine part ``theta``
    (B, K, 2, 3) and the kernel weights ``control_params`` (B, K, n, 2).
    """

    def __init__(self, kp_driving: torch.Tensor, kp_source: torch.Tensor):
        with float32_math(kp_driving):
            kp_driving, kp_source = full_precision(kp_driving), full_precision(kp_source).to(kp_driving.dtype)
            b, k, n, _ = kp_driving.shape
            kernel = tps_kernel(_squared_distances(kp_driving, kp_driving))  # (B, K, n, n)
            homogeneous = torch.cat([kp_driving, kp_driving.new_ones(b, k, n, 1)], dim=3)  # (B, K, n, 3)
            top = torch.cat([kernel, homogeneous], dim=3)
            bottom = torch.cat([homogeneous.transpose(2, 3), kp_driving.new_zeros(b, k, 3, 3)], dim=3)
            system = torch.cat([top, bottom], dim=2)  # (B, K, n+3, n+3)
            system = system + RIDGE * torch.eye(n + 3, dtype=system.dtype, device=system.device)
            target = torch.cat([kp_source, kp_source.new_zeros(b, k, 3, 2)], dim=2)  # (B, K, n+3, 2)
            params = torch.linalg.solve(system, target)
        self.theta = params[:, :, n:, :].transpose(2, 3)  # (B, K, 2, 3)
        self.control_points = kp_driving  # (B, K, n, 2)
        self.control_params = params[:, :, :n, :]  # (B, K, n, 2)

    @classmethod
    def from_params(cls, theta: torch.Tensor, control_points: torch.Tensor,
                    control_params: torch.Tensor) -> KeypointTPS:
        """A fitted transform from its parameters (an exported graph gets them from the host, since
        ONNX has no linear solve)."""
        tps = cls.__new__(cls)
        tps.theta, tps.control_points, tps.control_params = theta, control_points, control_params
        return tps

    def warp_coordinates(self, coordinates: torch.Tensor) -> torch.Tensor:
        """(B or 1, N, 2) points of the driving frame -> (B, K, N, 2) points of the source frame."""
        with float32_math(coordinates):
            coordinates = coordinates.to(self.theta.dtype).unsqueeze(1)  # (B, 1, N, 2)
            affine = coordinates @ self.theta[..., :2].transpose(2, 3) + self.theta[..., 2].unsqueeze(2)
            bending = tps_kernel(_squared_distances(coordinates, self.control_points)) @ self.control_params
            return affine + bending

    def grid(self, height: int, width: int) -> torch.Tensor:
        """The K sampling grids of an (h, w) driving frame: (B, K, h, w, 2)."""
        b, k = self.theta.shape[:2]
        points = make_coordinate_grid((height, width), self.theta.dtype, self.theta.device).view(1, -1, 2)
        return self.warp_coordinates(points).view(b, k, height, width, 2)


class RandomTPS:
    """The equivariance loss's random transform (TPSMM's ``TPS(mode='random')``): an affine ``theta``
    (B, 2, 3) plus a TPS on a fixed ``points_tps`` x ``points_tps`` control grid with weights
    ``control_params`` (B, 1, points_tps**2)."""

    def __init__(self, theta: torch.Tensor, control_params: torch.Tensor):
        self.theta, self.control_params = theta, control_params
        points = round(control_params.shape[-1] ** 0.5)
        self.control_points = make_coordinate_grid((points, points), theta.dtype, theta.device).view(-1, 2)

    @classmethod
    def sample(cls, bs: int, sigma_affine: float, sigma_tps: float, points_tps: int,
               generator: torch.Generator | None = None) -> RandomTPS:
        theta = torch.eye(2, 3) + sigma_affine * torch.randn(bs, 2, 3, generator=generator)
        return cls(theta, sigma_tps * torch.randn(bs, 1, points_tps**2, generator=generator))

    def warp_coordinates(self, coordinates: torch.Tensor) -> torch.Tensor:
        """(B or 1, N, 2) -> (B, N, 2)."""
        with float32_math(coordinates):
            theta = self.theta.to(coordinates.dtype)
            affine = coordinates @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2].unsqueeze(1)
            weights = tps_kernel(_squared_distances(coordinates, self.control_points.to(coordinates.dtype)))
            return affine + (weights * self.control_params.to(coordinates.dtype)).sum(-1, keepdim=True)

    def grid(self, height: int, width: int) -> torch.Tensor:
        """The sampling grid of an (h, w) frame: (B, h, w, 2)."""
        points = make_coordinate_grid((height, width), self.theta.dtype, self.theta.device).view(1, -1, 2)
        return self.warp_coordinates(points).view(self.theta.shape[0], height, width, 2)
