"""Building blocks shared by the FOMM networks.

Attribute names (``conv``, ``norm``, ``conv1`` ...) are the state-dict keys of the published
checkpoints, so loading stays a strict ``load_state_dict``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Norm = Callable[[int], nn.Module]  # features -> a normalization layer; its parameters are named ``norm*``


def batch_norm(features: int) -> nn.Module:
    """FOMM's and MRAA's norm."""
    return nn.BatchNorm2d(features, affine=True)


def instance_norm(features: int) -> nn.Module:
    """TPSMM's norm: affine InstanceNorm (no running statistics, so no extra state-dict keys)."""
    return nn.InstanceNorm2d(features, affine=True)


def make_coordinate_grid(spatial_size: tuple[int, int], dtype: torch.dtype = torch.float32,
                         device: torch.device | str | None = None) -> torch.Tensor:
    """Normalized pixel coordinates of an (h, w) map: (h, w, 2), x first, both in [-1, 1]."""
    h, w = spatial_size
    x = torch.arange(w, dtype=dtype, device=device)
    y = torch.arange(h, dtype=dtype, device=device)
    # Same expression order as the original (x / (w - 1) first) so results agree bit for bit.
    x = 2 * (x / (w - 1)) - 1
    y = 2 * (y / (h - 1)) - 1
    yy = y.view(-1, 1).expand(h, w)
    xx = x.view(1, -1).expand(h, w)
    return torch.stack([xx, yy], dim=2)


def kp2gaussian(kp_value: torch.Tensor, spatial_size: tuple[int, int], kp_variance: float) -> torch.Tensor:
    """Gaussian blobs centred on keypoints: (..., K, 2) -> (..., K, h, w)."""
    grid = make_coordinate_grid(spatial_size, kp_value.dtype, kp_value.device)
    lead = kp_value.shape[:-1]
    mean = kp_value.reshape(*lead, 1, 1, 2)
    diff = grid - mean
    return torch.exp(-0.5 * (diff**2).sum(-1) / kp_variance)


def inverse_2x2(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of a batch of 2x2 matrices in closed form.

    The batched ``torch.inverse`` fails on some GPUs (cuSOLVER/MAGMA errors); the adjugate formula
    is exact, cheap and differentiable everywhere the inverse exists.
    """
    a, b = matrix[..., 0, 0], matrix[..., 0, 1]
    c, d = matrix[..., 1, 0], matrix[..., 1, 1]
    det = a * d - b * c
    adjugate = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    return adjugate / det[..., None, None]


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if it is in a reduced precision (bf16/fp16 under autocast), else unchanged.

    Marks the numerically sensitive steps (soft-argmax, jacobians, sampling coordinates): a bf16
    coordinate in [-1, 1] is only good to 1/128, half a pixel at 256 px.
    """
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def float32_math(tensor: torch.Tensor):
    """A region where ``torch.autocast`` is off, for coordinate arithmetic under a bf16/fp16 run.

    Autocast runs every ``matmul``/``einsum`` in the reduced precision, even on float32 inputs: a
    coordinate rounded to bf16 is off by up to 1/256 of the frame's half-width, and a jacobian times
    a displacement by more (0.4-0.7 px at 64 px, 4x that at 256 px). Keypoint motions, 2x2 jacobian
    products and the equivariance transforms are computed in here, on float32 inputs.
    """
    return torch.autocast(tensor.device.type, enabled=False)


def warp(image: torch.Tensor, grid: torch.Tensor, align_corners: bool, padding_mode: str = "zeros"):
    """Bilinear ``grid_sample`` with the model's align_corners choice made explicit; the coordinates
    (and so the sampling) stay at least float32 under reduced precision."""
    grid = full_precision(grid)
    return F.grid_sample(image.to(grid.dtype), grid, mode="bilinear", padding_mode=padding_mode,
                         align_corners=align_corners)


def resize(tensor: torch.Tensor, size) -> torch.Tensor:
    """``tensor`` (B, C, h, w) resized bilinearly to ``size`` (no-op when it has it)."""
    if tuple(tensor.shape[2:]) == tuple(size):
        return tensor
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)


def deform(inp: torch.Tensor, flow: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Warp ``inp`` (B, C, H, W) by a backward flow (B, h, w, 2), resized bilinearly to its size when
    they differ (how a generator warps its feature maps of every scale by one flow)."""
    flow = resize(flow.permute(0, 3, 1, 2), inp.shape[2:]).permute(0, 2, 3, 1)
    return warp(inp, flow, align_corners)


class ResBlock2d(nn.Module):
    """Pre-activation residual block: norm -> ReLU -> conv -> norm -> ReLU -> conv, plus the input."""

    def __init__(self, in_features: int, kernel_size: int = 3, padding: int = 1, norm: Norm = batch_norm):
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, in_features, kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(in_features, in_features, kernel_size, padding=padding)
        self.norm1 = norm(in_features)
        self.norm2 = norm(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x), inplace=True))
        out = self.conv2(F.relu(self.norm2(out), inplace=True))
        return out + x


class UpBlock2d(nn.Module):
    """Nearest upsampling x2 -> conv -> norm -> ReLU."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1,
                 norm: Norm = batch_norm):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = norm(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The upsampled map is the largest tensor of the generator (4x its input): nothing keeps it
        # once the conv has read it, and the ReLU reuses the norm's output, which lowers peak memory.
        out = self.conv(F.interpolate(x, scale_factor=2))
        return F.relu(self.norm(out), inplace=True)


class DownBlock2d(nn.Module):
    """Conv -> norm -> ReLU -> average pooling 2x2."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1,
                 norm: Norm = batch_norm):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = norm(out_features)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.norm(self.conv(x)), inplace=True))


class SameBlock2d(nn.Module):
    """Conv -> norm -> ReLU at constant resolution."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1,
                 norm: Norm = batch_norm):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = norm(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)), inplace=True)


def _hourglass_width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * (2**level))


class Encoder(nn.Module):
    """Hourglass encoder: returns the input and every down block's output (for the skips)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 norm: Norm = batch_norm):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                in_features if i == 0 else _hourglass_width(block_expansion, max_features, i),
                _hourglass_width(block_expansion, max_features, i + 1), norm=norm,
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder: up blocks, each followed by concatenation with the matching encoder map."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 norm: Norm = batch_norm):
        super().__init__()
        blocks = []
        self.level_filters = []  # channels of each level's output (after the concatenation), coarsest first
        for i in reversed(range(num_blocks)):
            factor = 1 if i == num_blocks - 1 else 2
            out = _hourglass_width(block_expansion, max_features, i)
            blocks.append(UpBlock2d(factor * _hourglass_width(block_expansion, max_features, i + 1), out, norm=norm))
            self.level_filters.append(out + (_hourglass_width(block_expansion, max_features, i) if i else in_features))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def levels(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every level's output, coarsest first (TPSMM's occlusion masks read the finest ones)."""
        skips = list(skips)
        out, outs = skips.pop(), []
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
            outs.append(out)
        return outs

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        skips = list(skips)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net used by the keypoint detector and the dense motion networks."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 norm: Norm = batch_norm):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, norm)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features, norm)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every decoder level's output, coarsest first; the last is :meth:`forward`'s."""
        return self.decoder.levels(self.encoder(x))


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur then subsampling by ``int(1 / scale)``: the original's anti-aliased downscale.

    Kernel size, sigma, asymmetric padding and strided subsampling are kept exactly as published,
    since the checkpoints store the kernel as the buffer ``down.weight``.
    """

    def __init__(self, channels: int, scale: float):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel_size = 2 * round(sigma * 4) + 1
        self.ka = kernel_size // 2
        self.kb = self.ka - 1 if kernel_size % 2 == 0 else self.ka
        coords = torch.arange(kernel_size, dtype=torch.float32)
        mean = (kernel_size - 1) / 2
        profile = torch.exp(-((coords - mean) ** 2) / (2 * sigma**2)) if sigma > 0 else torch.ones(1)
        kernel = profile[:, None] * profile[None, :]
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.view(1, 1, kernel_size, kernel_size).repeat(channels, 1, 1, 1))
        self.groups = channels
        self.scale = scale
        self.int_inv_scale = int(1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        out = F.conv2d(out, weight=self.weight.to(out.dtype), groups=self.groups)
        return out[:, :, :: self.int_inv_scale, :: self.int_inv_scale]


class ImagePyramid(nn.Module):
    """The image at each of ``scales``, downscaled with :class:`AntiAliasInterpolation2d`."""

    def __init__(self, scales, num_channels: int):
        super().__init__()
        self.scales = list(scales)
        self.downs = nn.ModuleDict({str(s).replace(".", "-"): AntiAliasInterpolation2d(num_channels, s)
                                    for s in self.scales})

    def forward(self, x: torch.Tensor) -> dict[float, torch.Tensor]:
        return {s: self.downs[str(s).replace(".", "-")](x) for s in self.scales}
