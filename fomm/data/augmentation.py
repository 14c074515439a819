"""Training augmentation of a clip (the two frames of a training pair), as in the original code:
horizontal flip, time flip, rotation, random resize + crop and color jitter, in that order, every
random choice shared by all frames of the clip.

Frames are float tensors (T, 3, H, W) in [0, 1]; numpy uint8 frames (T, H, W, 3) are converted.
Randomness comes from a ``numpy.random.Generator`` passed in, so a clip's augmentation is
reproducible from its seed whatever process (or DataLoader worker) runs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..config import AugmentationParams, ConfigError, from_dict
from ..io import to_tensor

__all__ = [
    "Augmentation", "adjust_brightness", "adjust_contrast", "adjust_hue", "adjust_saturation", "as_clip",
    "color_jitter", "hsv_to_rgb", "random_crop", "random_flip", "random_resize", "random_rotation",
    "rgb_to_grayscale", "rgb_to_hsv",
]


def as_clip(frames: torch.Tensor | np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """Frames as a float32 tensor (T, 3, H, W) in [0, 1].

    Accepts a float tensor (T, 3, H, W) (returned as float32) or uint8 frames (T, H, W, 3) as an
    array or a list of arrays.
    """
    if isinstance(frames, torch.Tensor):
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"a clip tensor must be (T, 3, H, W), got {tuple(frames.shape)}")
        return frames.float()
    array = np.stack(frames) if not isinstance(frames, np.ndarray) else frames
    if array.ndim != 4:
        raise ValueError(f"clip frames must be (T, H, W, 3), got {array.shape}")
    return to_tensor(array)


# ----------------------------------------------------------------------------- geometry
def random_flip(clip: torch.Tensor, rng: np.random.Generator, horizontal_flip: bool = False,
                time_flip: bool = False) -> torch.Tensor:
    """Reverse the frame order (time flip) and/or mirror every frame, each with probability 1/2.

    The original applied at most one of the two (a time-flipped clip was never mirrored); here the
    two are independent, which reaches every combination.
    """
    if time_flip and rng.random() < 0.5:
        clip = clip.flip(0)
    if horizontal_flip and rng.random() < 0.5:
        clip = clip.flip(-1)
    return clip


def random_rotation(clip: torch.Tensor, rng: np.random.Generator, degrees: float) -> torch.Tensor:
    """Rotate every frame by the same angle drawn from [-degrees, degrees] about its centre; pixels
    from outside the frame are black, as skimage's ``rotate`` in the original."""
    angle = math.radians(rng.uniform(-degrees, degrees))
    cos, sin = math.cos(angle), math.sin(angle)
    h, w = clip.shape[-2:]
    # affine_grid works in normalized coordinates; rotate in pixel units so non-square frames stay right.
    theta = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=clip.dtype)
    grid = F.affine_grid(theta.expand(clip.shape[0], 2, 3), list(clip.shape), align_corners=False)
    return F.grid_sample(clip, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_resize(clip: torch.Tensor, rng: np.random.Generator, ratio: Sequence[float]) -> torch.Tensor:
    """Scale every frame by one factor drawn from [ratio[0], ratio[1]] (anti-aliased bilinear)."""
    factor = rng.uniform(ratio[0], ratio[1])
    h, w = clip.shape[-2:]
    size = (max(1, int(h * factor)), max(1, int(w * factor)))
    if size == (h, w):
        return clip
    out = F.interpolate(clip, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)


def random_crop(clip: torch.Tensor, rng: np.random.Generator, size: Sequence[int]) -> torch.Tensor:
    """Crop a random (size[0], size[1]) window, the same for every frame; frames smaller than
    the window are first padded by repeating their edge pixels, centred (as the original)."""
    th, tw = int(size[0]), int(size[1])
    h, w = clip.shape[-2:]
    pad_h, pad_w = max(0, th - h), max(0, tw - w)
    if pad_h or pad_w:
        clip = F.pad(clip, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="replicate")
        h, w = clip.shape[-2:]
    top = int(rng.integers(0, h - th + 1))
    left = int(rng.integers(0, w - tw + 1))
    return clip[..., top:top + th, left:left + tw]


# ----------------------------------------------------------------------------- color (torchvision semantics)
def rgb_to_grayscale(img: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma (…, 1, H, W) of RGB images (…, 3, H, W), torchvision's weights."""
    r, g, b = img.unbind(-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def _blend(img: torch.Tensor, other: torch.Tensor, factor: float) -> torch.Tensor:
    return (factor * img + (1.0 - factor) * other).clamp_(0.0, 1.0)


def adjust_brightness(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply by ``factor`` (0: black, 1: unchanged)."""
    return _blend(img, torch.zeros_like(img), factor)


def adjust_contrast(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with each image's mean gray level (0: uniform gray, 1: unchanged)."""
    mean = rgb_to_grayscale(img).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(img, mean, factor)


def adjust_saturation(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the grayscale image (0: gray, 1: unchanged)."""
    return _blend(img, rgb_to_grayscale(img), factor)


def rgb_to_hsv(img: torch.Tensor) -> torch.Tensor:
    """RGB (…, 3, H, W) in [0, 1] to HSV with hue in [0, 1)."""
    r, g, b = img.unbind(-3)
    maxc, _ = img.max(dim=-3)
    minc, _ = img.min(dim=-3)
    delta = maxc - minc
    gray = delta == 0
    safe = torch.where(gray, torch.ones_like(delta), delta)
    saturation = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(gray, torch.zeros_like(hue), torch.remainder(hue / 6.0, 1.0))
    return torch.stack((hue, saturation, maxc), dim=-3)


def hsv_to_rgb(img: torch.Tensor) -> torch.Tensor:
    """HSV (…, 3, H, W), hue in [0, 1), to RGB: channel n = v - v s clamp(min(k, 4 - k), 0, 1)
    with k = (n + 6 h) mod 6 and n = 5, 3, 1 for R, G, B."""
    h, s, v = img.unbind(-3)
    n = torch.tensor([5.0, 3.0, 1.0], dtype=img.dtype, device=img.device).view(3, 1, 1)
    k = torch.remainder(n + 6.0 * h.unsqueeze(-3), 6.0)
    return v.unsqueeze(-3) * (1.0 - s.unsqueeze(-3) * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0))


def adjust_hue(img: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue by ``shift`` turns, in [-0.5, 0.5]."""
    if not -0.5 <= shift <= 0.5:
        raise ValueError(f"hue shift must be in [-0.5, 0.5], got {shift}")
    hsv = rgb_to_hsv(img)
    hue = torch.remainder(hsv[..., 0, :, :] + shift, 1.0)
    return hsv_to_rgb(torch.stack((hue, hsv[..., 1, :, :], hsv[..., 2, :, :]), dim=-3)).clamp_(0.0, 1.0)


def color_jitter(clip: torch.Tensor, rng: np.random.Generator, brightness: float = 0.0, contrast: float = 0.0,
                 saturation: float = 0.0, hue: float = 0.0) -> torch.Tensor:
    """torchvision's ``ColorJitter``: brightness, contrast and saturation factors drawn from
    [max(0, 1 - x), 1 + x], a hue shift from [-hue, hue], applied in a random order; the same draw
    for every frame of the clip. All zeros leaves the clip unchanged."""
    if not 0.0 <= hue <= 0.5:
        raise ConfigError(f"dataset_params.augmentation_params.jitter_param.hue must be in [0, 0.5], got {hue}")
    ops = []
    for amount, op in ((brightness, adjust_brightness), (contrast, adjust_contrast),
                       (saturation, adjust_saturation)):
        if amount < 0:
            raise ConfigError(f"color jitter amounts must be >= 0, got {amount}")
        if amount > 0:
            ops.append((op, rng.uniform(max(0.0, 1.0 - amount), 1.0 + amount)))
    if hue > 0:
        ops.append((adjust_hue, rng.uniform(-hue, hue)))
    for i in rng.permutation(len(ops)):
        op, value = ops[i]
        clip = op(clip, value)
    return clip


# ----------------------------------------------------------------------------- all together
class Augmentation:
    """The config's ``augmentation_params`` as one callable: ``augment(frames, rng) -> (T, 3, H, W)``.

    Order as the original ``AllAugmentationTransform``: flip, rotation, resize, crop, jitter.
    """

    def __init__(self, params: AugmentationParams | dict | None = None):
        if params is None:
            params = AugmentationParams()
        elif isinstance(params, dict):
            params = from_dict(AugmentationParams, params, "dataset_params.augmentation_params")
        if params.perspective_param:
            raise ConfigError("dataset_params.augmentation_params.perspective_param is not supported; remove it")
        if params.resize_param is not None and params.crop_param is None and list(params.resize_param.ratio) != [1, 1]:
            raise ConfigError("dataset_params.augmentation_params.resize_param needs crop_param too: random resizing "
                              "alone gives frames of random size, which cannot be batched")
        self.params = params
        rotation = params.rotation_param
        if rotation is not None and set(rotation) - {"degrees"}:
            raise ConfigError("dataset_params.augmentation_params.rotation_param takes one key, 'degrees'; "
                              f"got {sorted(rotation)}")

    def __call__(self, frames: torch.Tensor | np.ndarray | Sequence[np.ndarray],
                 rng: np.random.Generator) -> torch.Tensor:
        p = self.params
        clip = as_clip(frames)
        if p.flip_param is not None:
            clip = random_flip(clip, rng, p.flip_param.horizontal_flip, p.flip_param.time_flip)
        if p.rotation_param is not None:
            clip = random_rotation(clip, rng, float(p.rotation_param.get("degrees", 0)))
        if p.resize_param is not None:
            clip = random_resize(clip, rng, p.resize_param.ratio)
        if p.crop_param is not None:
            clip = random_crop(clip, rng, p.crop_param.size)
        if p.jitter_param is not None:
            j = p.jitter_param
            clip = color_jitter(clip, rng, j.brightness, j.contrast, j.saturation, j.hue)
        return clip.contiguous()

    def output_size(self, frame_size: Sequence[int]) -> tuple[int, int]:
        """The (H, W) of augmented frames from frames of ``frame_size`` (H, W)."""
        if self.params.crop_param is not None:
            return int(self.params.crop_param.size[0]), int(self.params.crop_param.size[1])
        return int(frame_size[0]), int(frame_size[1])
