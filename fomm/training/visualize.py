"""The per-epoch training picture (the original's ``train-vis/<epoch>-rec.png``): one row per sample
with source and driving (keypoints drawn), the transformed driving frame of the equivariance loss,
the source deformed by the dense motion, the occlusion map and the prediction; for the AVD stage,
source, driving and the source animated through the AVD network (:func:`avd_grid`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..io.draw import draw_keypoints
from ..io.frames import to_uint8
from ..models import Keypoints
from .losses import GeneratorStep


def keypoint_pixels(value: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Normalized keypoints (K, 2) -> pixel coordinates (x, y) of an (h, w) image.

    As the original visualizer (and ``fomm.animation``): -1 and 1 are the image edges, and integer
    pixel coordinates are pixel centers, so the image spans -0.5 .. w - 0.5.
    """
    h, w = size
    scale = torch.tensor([w, h], dtype=torch.float32)
    return ((value.detach().float().cpu() + 1) / 2 * scale - 0.5).numpy()


def _with_keypoints(images: torch.Tensor, kp: Keypoints | None) -> list[np.ndarray]:
    frames = to_uint8(images)
    if kp is None:
        return list(frames)
    return [draw_keypoints(np.ascontiguousarray(f), keypoint_pixels(kp.value[i], f.shape[:2]))
            for i, f in enumerate(frames)]


def training_grid(source: torch.Tensor, driving: torch.Tensor, step: GeneratorStep,
                  generator: torch.nn.Module | None = None, max_rows: int = 8) -> np.ndarray:
    """(H * rows, W * columns, 3) uint8: one row per sample (at most ``max_rows``).

    Columns: source + keypoints, driving + keypoints, transformed driving + its keypoints (when the
    equivariance loss ran), deformed source, occlusion map, prediction + driving keypoints.
    ``generator`` computes the deformed source when the step did not (training skips it).
    """
    n = min(max_rows, source.shape[0])
    h, w = source.shape[2:]
    generated = step.generated
    columns = [_with_keypoints(source[:n], step.kp_source[:n]), _with_keypoints(driving[:n], step.kp_driving[:n])]
    if step.transformed_frame is not None:
        columns.append(_with_keypoints(step.transformed_frame[:n], step.transformed_kp[:n]))
    deformed = generated.deformed
    if deformed is None and generated.deformation is not None and generator is not None:
        with torch.no_grad():
            deformed = generator.deform_input(source[:n], generated.deformation[:n].detach())
    if deformed is not None:
        columns.append(_with_keypoints(deformed[:n], None))
    if generated.occlusion_map is not None:
        occlusion = F.interpolate(generated.occlusion_map[:n].detach().float(), size=(h, w), mode="bilinear")
        columns.append(_with_keypoints(occlusion.expand(-1, 3, -1, -1), None))
    columns.append(_with_keypoints(generated.prediction[:n], step.kp_driving[:n]))
    rows = [np.concatenate([column[i] for column in columns], axis=1) for i in range(n)]
    return np.concatenate(rows, axis=0)


def avd_grid(source: torch.Tensor, driving: torch.Tensor, prediction: torch.Tensor, kp_source, kp_driving,
             kp_avd) -> np.ndarray:
    """(H * rows, W * 3, 3) uint8, a row per sample: source + its points, driving frame + its points,
    the source animated with the AVD network's points (drawn on it)."""
    columns = [_with_keypoints(source, kp_source), _with_keypoints(driving, kp_driving),
               _with_keypoints(prediction, kp_avd)]
    rows = [np.concatenate([column[i] for column in columns], axis=1) for i in range(source.shape[0])]
    return np.concatenate(rows, axis=0)
