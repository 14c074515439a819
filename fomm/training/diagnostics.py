"""Per-epoch keypoint diagnostics of a training run (see :mod:`fomm.evaluation.keypoints`).

:class:`KeypointMonitor` measures the keypoint detector at the end of every epoch on a fixed probe
set: frames of the dataset's test split with ``fomm synth`` part tracks when there are any (then the
distance of every part to its nearest keypoint is measured too), else the epoch's last driving
batch. The trainer appends the values to ``log.txt`` (after the losses), TensorBoard (``kp/*``), draws
``train-vis/<epoch>-kp.png`` and logs a warning when the keypoints collapse.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from ..evaluation.keypoints import (
    KeypointStats,
    ProbeSet,
    capture_heatmaps,
    diagnose_keypoints,
    keypoint_pixels,
    probe_set,
)
from ..io.draw import draw_keypoints
from ..io.frames import to_uint8

logger = logging.getLogger(__name__)

PICTURE_FRAMES = 8  # probe frames drawn in train-vis/<epoch>-kp.png
_PART_MARK = (255, 255, 255)


class KeypointMonitor:
    """Keypoint spread, heatmap peakiness and (synthetic data) part coverage, once per epoch."""

    def __init__(self, root_dir: str | Path | None, num_videos: int = 8, frames_per_video: int = 8):
        self.probe: ProbeSet | None = None
        if root_dir is not None:
            self.probe = probe_set(root_dir, "test", num_videos, frames_per_video) or probe_set(
                root_dir, "train", num_videos, frames_per_video)
        if self.probe is not None:
            logger.info("keypoint diagnostics on %d frames with part tracks", len(self.probe.frames))

    def measure(self, kp_detector: nn.Module, fallback: torch.Tensor | None) -> KeypointStats | None:
        """Stats on the probe set (or on ``fallback`` frames, without part measures); warns on collapse."""
        if self.probe is not None:
            stats = diagnose_keypoints(kp_detector, self.probe.frames, self.probe)
        elif fallback is not None:
            stats = diagnose_keypoints(kp_detector, fallback.detach())
        else:
            return None
        message = stats.warning()
        if message:
            logger.warning("%s", message)
        return stats

    def picture(self, kp_detector: nn.Module, fallback: torch.Tensor | None) -> np.ndarray | None:
        """(2 H, n W, 3) uint8: probe frames with keypoints (and white crosses on the ground-truth part
        centres), above the sum of the keypoint heatmaps (white: high)."""
        frames = self.probe.frames if self.probe is not None else fallback
        if frames is None:
            return None
        frames = frames[:: max(1, len(frames) // PICTURE_FRAMES)][:PICTURE_FRAMES].detach()
        picks = np.arange(len(self.probe.frames))[:: max(1, len(self.probe.frames) // PICTURE_FRAMES)][
            :PICTURE_FRAMES] if self.probe is not None else None
        was_training = kp_detector.training
        kp_detector.eval()
        device = next(kp_detector.parameters()).device
        try:
            with torch.no_grad(), capture_heatmaps(kp_detector) as heatmaps:
                value = kp_detector(frames.to(device)).value
        finally:
            kp_detector.train(was_training)
        size = tuple(frames.shape[2:])
        pixels = keypoint_pixels(value, size).cpu().numpy()
        heat = F.interpolate(heatmaps[0].sum(1, keepdim=True), size=size, mode="bilinear", align_corners=False)
        heat = heat / heat.flatten(1).amax(1).clamp_min(1e-8).view(-1, 1, 1, 1)
        top = []
        for i, frame in enumerate(to_uint8(frames)):
            image = draw_keypoints(np.ascontiguousarray(frame), pixels[i], radius=1)
            if picks is not None:
                image = _mark_parts(image, self.probe.positions[picks[i]], self.probe.visible[picks[i]])
            top.append(image)
        bottom = to_uint8(heat.expand(-1, 3, -1, -1).cpu())
        return np.concatenate([np.concatenate(top, axis=1), np.concatenate(list(bottom), axis=1)], axis=0)


def _mark_parts(frame: np.ndarray, positions: np.ndarray, visible: np.ndarray) -> np.ndarray:
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    for (x, y), seen in zip(positions, visible, strict=True):
        if seen:
            draw.line([(x - 2, y), (x + 2, y)], fill=_PART_MARK)
            draw.line([(x, y - 2), (x, y + 2)], fill=_PART_MARK)
    return np.asarray(image)


__all__ = ["KeypointMonitor"]
