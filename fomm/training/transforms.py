"""The random transform of the equivariance constraints (paper Sec. 3.2, Eq. 9-10): an affine map
plus a thin-plate-spline, applied to frames and to keypoint coordinates."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import float32_math, make_coordinate_grid


class Transform:
    """Random affine + TPS deformation for a batch of ``bs`` samples; with ``max_rotation`` (degrees,
    our extension) the affine part is also rotated by an angle drawn uniformly within +-max_rotation.

    The formula, including the L1 radial distance and ``r^2 log(r + 1e-6)``, is the original
    implementation's, kept for fidelity rather than the textbook TPS kernel.
    """

    def __init__(self, bs: int, sigma_affine: float, sigma_tps: float | None = None,
                 points_tps: int | None = None, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, align_corners: bool = True, max_rotation: float = 0.0):
        noise = torch.normal(mean=0, std=sigma_affine * torch.ones(bs, 2, 3), generator=generator)
        theta = noise + torch.eye(2, 3).view(1, 2, 3)
        if max_rotation:  # our extension (drawn after the published noise, so that without it nothing changes)
            angle = torch.deg2rad((2 * torch.rand(bs, generator=generator) - 1) * max_rotation)
            cos, sin = torch.cos(angle), torch.sin(angle)
            rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
            with float32_math(theta):
                theta = rotation @ theta
        self.theta = theta.to(device)
        self.bs = bs
        self.align_corners = align_corners
        self.tps = sigma_tps is not None and points_tps is not None
        if self.tps:
            self.control_points = make_coordinate_grid((points_tps, points_tps), device=device).unsqueeze(0)
            self.control_params = torch.normal(
                mean=0, std=sigma_tps * torch.ones(bs, 1, points_tps**2), generator=generator).to(device)

    @classmethod
    def from_params(cls, theta: torch.Tensor, control_params: torch.Tensor | None = None,
                    align_corners: bool = True) -> Transform:
        """A transform with given parameters (for tests and reproducibility)."""
        t = cls.__new__(cls)
        t.theta, t.bs, t.align_corners = theta, theta.shape[0], align_corners
        t.tps = control_params is not None
        if t.tps:
            points = int(round(control_params.shape[-1] ** 0.5))
            t.control_points = make_coordinate_grid((points, points), theta.dtype, theta.device).unsqueeze(0)
            t.control_params = control_params
        return t

    def transform_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """Warp a batch of frames (B, C, H, W) with reflection padding."""
        h, w = frame.shape[2:]
        grid = make_coordinate_grid((h, w), frame.dtype, frame.device).view(1, h * w, 2)
        grid = self.warp_coordinates(grid).view(self.bs, h, w, 2)
        return F.grid_sample(frame, grid, padding_mode="reflection", align_corners=self.align_corners)

    def warp_coordinates(self, coordinates: torch.Tensor) -> torch.Tensor:
        """Apply T to (B or 1, N, 2) coordinates -> (B, N, 2); in float32 math under autocast too, so
        that a frame is warped by exactly the T its equivariance losses assume."""
        with float32_math(coordinates):
            theta = self.theta.to(coordinates.dtype).unsqueeze(1)  # (B, 1, 2, 3)
            transformed = torch.matmul(theta[..., :2], coordinates.unsqueeze(-1)) + theta[..., 2:]
            transformed = transformed.squeeze(-1)
            if self.tps:
                control_points = self.control_points.to(coordinates.dtype)
                control_params = self.control_params.to(coordinates.dtype)
                distances = coordinates.view(coordinates.shape[0], -1, 1, 2) - control_points.view(1, 1, -1, 2)
                distances = distances.abs().sum(-1)
                result = distances**2 * torch.log(distances + 1e-6) * control_params
                transformed = transformed + result.sum(dim=2).view(self.bs, coordinates.shape[1], 1)
            return transformed

    def jacobian(self, coordinates: torch.Tensor) -> torch.Tensor:
        """dT/dz at ``coordinates`` (B, N, 2) -> (B, N, 2, 2), by autograd (differentiable)."""
        if not coordinates.requires_grad:
            coordinates = coordinates.detach().requires_grad_(True)
        new = self.warp_coordinates(coordinates)
        grad_x = torch.autograd.grad(new[..., 0].sum(), coordinates, create_graph=True)[0]
        grad_y = torch.autograd.grad(new[..., 1].sum(), coordinates, create_graph=True)[0]
        return torch.stack([grad_x, grad_y], dim=-2)
