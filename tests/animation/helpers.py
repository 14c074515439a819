"""A tiny random-weight model at 64 px and the per-frame reference the animator must reproduce.

The reference is the original ``demo.py`` computation: batch 1, the full ``generator`` forward per
frame (the source encoded each time), ``normalize_kp`` against the initial frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fomm.animation.normalize import normalize_kp
from fomm.checkpoints import save_checkpoint
from fomm.config import Config, load_config
from fomm.io import prepare_frame, to_tensor
from fomm.model import FOMM

SIZE = 64


def tiny_config(golden: Path) -> Config:
    """The golden tiny config (widths 8) at 64 px: one hourglass level less so 64 * 0.25 divides."""
    config = load_config(golden / "tiny.yaml")
    config.dataset_params.frame_shape = [SIZE, SIZE, 3]
    config.model_params.kp_detector_params.num_blocks = 4
    config.model_params.generator_params.dense_motion_params.num_blocks = 4
    return config


def tiny_model(golden: Path, seed: int = 0) -> FOMM:
    torch.manual_seed(seed)
    model = FOMM(tiny_config(golden))
    with torch.no_grad():  # non-identity jacobians, so that relative jacobians are exercised
        model.kp_detector.jacobian.weight.normal_(0, 0.05)
    return model.eval()


def tiny_checkpoint(golden: Path, folder: Path, seed: int = 0) -> Path:
    """The weights of ``tiny_model(golden, seed)`` in a checkpoint file, with their config."""
    net = tiny_model(golden, seed)
    return save_checkpoint(folder / "tiny.pth", net.networks(), net.config)


def random_frames(n: int, shape=(48, 64), seed: int = 0) -> list[np.ndarray]:
    """Smooth random frames (blurred noise), so that keypoints differ from frame to frame."""
    rng = np.random.default_rng(seed)
    height, width = shape
    coarse = rng.integers(0, 256, (n, height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    return [np.kron(c, np.ones((8, 8, 1), np.uint8))[:height, :width].copy() for c in coarse]


def reference(model: FOMM, source: np.ndarray, driving: list[np.ndarray], mode: str = "relative",
              adapt_scale: bool = False, initial: int = 0, fit: str = "crop") -> torch.Tensor:
    """(T, 3, S, S): each frame computed alone, the way the original demo did."""
    def prep(frame):
        return to_tensor(prepare_frame(frame, SIZE, fit))

    relative = mode == "relative"
    out = []
    with torch.no_grad():
        src = prep(source)
        kp_source = model.kp_detector(src)
        kp_initial = model.kp_detector(prep(driving[initial]))
        for frame in driving:
            kp_driving = model.kp_detector(prep(frame))
            kp_norm = normalize_kp(kp_source, kp_driving, kp_initial, adapt_movement_scale=adapt_scale,
                                   use_relative_movement=relative, use_relative_jacobian=relative)
            out.append(model.generator(src, kp_norm, kp_source).prediction)
    return torch.cat(out)
