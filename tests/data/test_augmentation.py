"""Augmentation: each transform does what it says, all frames of a clip get the same draw, seeds reproduce."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch

from fomm.config import AugmentationParams, ConfigError, CropParams, FlipParams, JitterParams, ResizeParams
from fomm.data.augmentation import (
    Augmentation,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    color_jitter,
    hsv_to_rgb,
    random_crop,
    random_flip,
    random_resize,
    rgb_to_grayscale,
    rgb_to_hsv,
)


def _clip(t: int = 2, h: int = 12, w: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _outcomes(fn, clip, n=32):
    """Apply ``fn(clip, rng)`` with seeds 0..n-1."""
    return [fn(clip, np.random.default_rng(seed)) for seed in range(n)]


def test_horizontal_flip_mirrors_every_frame_or_none():
    clip = _clip(3)
    results = _outcomes(lambda c, r: random_flip(c, r, horizontal_flip=True), clip)
    flipped = [torch.equal(out, clip.flip(-1)) for out in results]
    unchanged = [torch.equal(out, clip) for out in results]
    assert all(f or u for f, u in zip(flipped, unchanged, strict=True))
    assert any(flipped) and any(unchanged)


def test_time_flip_swaps_the_pair():
    clip = _clip(2)
    results = _outcomes(lambda c, r: random_flip(c, r, time_flip=True), clip)
    swapped = [torch.equal(out[0], clip[1]) and torch.equal(out[1], clip[0]) for out in results]
    assert any(swapped) and not all(swapped)
    assert all(s or torch.equal(out, clip) for s, out in zip(swapped, results, strict=True))


def test_jitter_with_zeros_is_identity():
    clip = _clip()
    assert torch.equal(color_jitter(clip, np.random.default_rng(0)), clip)
    augment = Augmentation(AugmentationParams(jitter_param=JitterParams(0, 0, 0, 0)))
    assert torch.equal(augment(clip, np.random.default_rng(0)), clip)


@pytest.mark.parametrize("param", ["brightness", "contrast", "saturation", "hue"])
def test_jitter_changes_the_image_and_stays_in_range(param):
    clip = _clip()
    changes = []
    for out in _outcomes(lambda c, r: color_jitter(c, r, **{param: 0.5}), clip, n=8):
        assert out.shape == clip.shape and out.dtype == torch.float32
        assert out.min() >= 0 and out.max() <= 1
        changes.append(float((out - clip).abs().max()))
    assert min(changes) > 0 and max(changes) > 0.1


def _luma(rgb: np.ndarray) -> np.ndarray:
    """torchvision's grayscale (ITU-R 601-2 with its rounded weights), per pixel: (..., 3) -> (...)."""
    return 0.2989 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _to_pixels(img: torch.Tensor) -> np.ndarray:
    return img[0].permute(1, 2, 0).double().numpy()  # (H, W, 3)


def _hue_shift_colorsys(rgb: np.ndarray, shift: float) -> np.ndarray:
    """The hue rotation computed pixel by pixel with Python's colorsys (an independent HSV)."""
    out = np.empty_like(rgb)
    for index in np.ndindex(rgb.shape[:-1]):
        h, s, v = colorsys.rgb_to_hsv(*rgb[index])
        out[index] = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_color_operations_have_torchvision_semantics(seed):
    """Each operation against torchvision's formulas written out per pixel in numpy (brightness, contrast
    and saturation blend with black, the image's mean gray and the pixel's gray; hue rotates the HSV hue)
    on random images and random factors, clamped to [0, 1]."""
    rng = np.random.default_rng(seed)
    img = _clip(1, 6, 7, seed=seed)
    pixels = _to_pixels(img)
    gray = _luma(pixels)[..., None]
    for factor in rng.uniform(0, 2, 3):
        expected = {
            adjust_brightness: np.clip(factor * pixels, 0, 1),
            adjust_contrast: np.clip(factor * pixels + (1 - factor) * gray.mean(), 0, 1),
            adjust_saturation: np.clip(factor * pixels + (1 - factor) * gray, 0, 1),
        }
        for op, want in expected.items():
            np.testing.assert_allclose(_to_pixels(op(img, float(factor))), want, atol=1e-5, err_msg=op.__name__)
    np.testing.assert_allclose(_to_pixels(rgb_to_grayscale(img)), gray, atol=1e-6)
    for shift in [*rng.uniform(-0.5, 0.5, 3), 0.5, -0.5]:
        np.testing.assert_allclose(_to_pixels(adjust_hue(img, float(shift))), _hue_shift_colorsys(pixels, shift),
                                   atol=1e-5, err_msg=f"hue {shift}")
    hsv = rgb_to_hsv(img)
    want_hsv = np.array([colorsys.rgb_to_hsv(*p) for p in pixels.reshape(-1, 3)]).reshape(pixels.shape)
    np.testing.assert_allclose(_to_pixels(hsv), want_hsv, atol=1e-5)
    torch.testing.assert_close(hsv_to_rgb(hsv), img, atol=1e-5, rtol=0)


def test_color_jitter_draws_torchvision_ranges():
    """One kind of jitter at a time: the factor comes from the generator's first uniform draw over
    [max(0, 1 - x), 1 + x] (the hue shift over [-x, x]), the same for every frame of the clip."""
    clip = _clip(2, 5, 6)
    pixels = clip.permute(0, 2, 3, 1).double().numpy()
    gray = _luma(pixels)[..., None]
    for seed in range(4):
        factor = np.random.default_rng(seed).uniform(0.7, 1.3)
        out = color_jitter(clip, np.random.default_rng(seed), brightness=0.3).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(out, np.clip(factor * pixels, 0, 1), atol=1e-5)
        out = color_jitter(clip, np.random.default_rng(seed), saturation=0.3).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(out, np.clip(factor * pixels + (1 - factor) * gray, 0, 1), atol=1e-5)
        shift = np.random.default_rng(seed).uniform(-0.2, 0.2)
        out = color_jitter(clip, np.random.default_rng(seed), hue=0.2).permute(0, 2, 3, 1).numpy()
        for t in range(2):
            np.testing.assert_allclose(out[t], _hue_shift_colorsys(pixels[t], shift), atol=1e-5)


def test_resize_and_crop():
    clip = _clip(2, 20, 20)
    rng = np.random.default_rng(0)
    assert random_resize(clip, rng, [0.5, 0.5]).shape == (2, 3, 10, 10)
    padded = random_crop(clip, rng, [24, 28])  # larger than the frame: edge padding, centred
    assert padded.shape == (2, 3, 24, 28)
    torch.testing.assert_close(padded[:, :, 2:22, 4:24], clip)
    torch.testing.assert_close(padded[:, :, :2, 4:24], clip[:, :, :1].expand(2, 3, 2, 20))
    crop = random_crop(clip, rng, [8, 8])
    hits = [(i, j) for i in range(13) for j in range(13) if torch.equal(clip[..., i:i + 8, j:j + 8], crop)]
    assert len(hits) == 1  # a window of the original, the same for both frames


def test_both_frames_get_the_same_transform():
    params = AugmentationParams(flip_param=FlipParams(True, True), jitter_param=JitterParams(0.3, 0.3, 0.3, 0.3),
                                resize_param=ResizeParams([0.8, 1.2]), crop_param=CropParams([12, 12]),
                                rotation_param={"degrees": 20})
    augment = Augmentation(params)
    frame = _clip(1, 12, 12)
    for seed in range(4):
        out = augment(frame.expand(2, 3, 12, 12), np.random.default_rng(seed))
        assert out.shape == (2, 3, 12, 12)
        assert torch.equal(out[0], out[1])
        assert not torch.equal(out[0], frame[0])


def test_seeded_and_accepts_uint8_frames():
    augment = Augmentation({"flip_param": {"horizontal_flip": True, "time_flip": True},
                            "jitter_param": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1}})
    frames = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    a = augment(frames, np.random.default_rng(5))
    b = augment(list(frames), np.random.default_rng(5))
    assert a.shape == (2, 3, 8, 8) and a.dtype == torch.float32
    assert torch.equal(a, b)
    identity = Augmentation(None)(frames, np.random.default_rng(0))
    torch.testing.assert_close(identity, torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255)


def test_unsupported_params_are_refused_by_name():
    with pytest.raises(ConfigError, match="perspective_param"):
        Augmentation(AugmentationParams(perspective_param={"scale": 0.1}))
    with pytest.raises(ConfigError, match="crop_param"):
        Augmentation(AugmentationParams(resize_param=ResizeParams([0.9, 1.1])))
    with pytest.raises(ConfigError, match="unknown config key"):
        Augmentation({"flip_parm": {}})
