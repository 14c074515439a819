"""Keypoint diagnostics: do the learned keypoints spread over the moving parts, or collapse?

FOMM's keypoints are unsupervised; nothing but the reconstruction and equivariance losses pushes them
onto the parts that move. When those do not, keypoints gather in one place (all on a torso, or all on
top of each other) and the model moves the object as a whole. These measures make that visible
during training (per epoch, :class:`fomm.training.trainer.Trainer`) and in ``fomm reconstruct``:

- spread: the mean distance (pixels) between two keypoints of a frame, and the share of keypoints
  that sit within ``near_px`` of another one;
- heatmap peakiness: the spread (pixels, the standard deviation about the soft-argmax) and the peak
  probability of each keypoint's heatmap; wide heatmaps average over several parts;
- on synthetic data (``fomm synth``'s ground-truth part tracks): each part's distance to its nearest
  keypoint, and the share of frames where a keypoint lies within ``hit_px`` of it (``part_hits``).

Coordinates are in frame pixels (x, y), pixel centres at integers, as :mod:`fomm.data.synthetic`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.synthetic import Tracks, load_tracks
from ..io.frames import to_tensor

logger = logging.getLogger(__name__)

NEAR_PX = 3.0  # keypoints closer than this (64 px frames) count as stacked on each other
HIT_PX = 6.0  # a part counts as covered when a keypoint lies this close to its centroid
COLLAPSE_NEAR_SHARE = 0.5  # collapsed: at least half the keypoints are stacked on another one


@dataclass
class KeypointStats:
    """Keypoint diagnostics of a set of frames (means over frames and keypoints)."""

    num_frames: int
    num_kp: int
    mean_distance: float  # pixels between two keypoints of the same frame
    near_share: float  # share of keypoints within ``near_px`` of another keypoint of the same frame
    heatmap_spread: float | None = None  # pixels: std of a heatmap about its soft-argmax (small: peaky)
    heatmap_peak: float | None = None  # the largest probability of a heatmap
    part_names: tuple[str, ...] = ()
    part_distance: list[float] = field(default_factory=list)  # pixels from each part to its nearest keypoint
    part_hits: list[float] = field(default_factory=list)  # share of visible frames with a keypoint within hit_px
    near_px: float = NEAR_PX
    hit_px: float = HIT_PX

    @property
    def collapsed(self) -> bool:
        """Most keypoints stacked on another one: the model has fewer distinct keypoints than it seems."""
        return self.near_share >= COLLAPSE_NEAR_SHARE

    @property
    def min_part_hits(self) -> float | None:
        return min(self.part_hits) if self.part_hits else None

    def missed_parts(self, share: float = 0.5) -> list[str]:
        """Parts with a keypoint nearby on fewer than ``share`` of the frames."""
        return [n for n, h in zip(self.part_names, self.part_hits, strict=True) if h < share]

    def scalars(self) -> dict[str, float]:
        """Flat ``kp_*`` values for log.txt and TensorBoard (absent measures left out)."""
        out = {"kp_distance": self.mean_distance, "kp_near": self.near_share}
        if self.heatmap_spread is not None:
            out["kp_heatmap_spread"] = self.heatmap_spread
            out["kp_heatmap_peak"] = self.heatmap_peak
        if self.part_hits:
            out["kp_part_distance"] = float(np.mean(self.part_distance))
            out["kp_part_hits_min"] = min(self.part_hits)
            for name, hits in zip(self.part_names, self.part_hits, strict=True):
                out[f"kp_hits_{name}"] = hits
        return out

    def warning(self) -> str | None:
        """A sentence for the log when the keypoints collapsed or miss parts, else None."""
        problems = []
        if self.collapsed:
            problems.append(f"keypoints collapsed: {self.near_share:.0%} of the {self.num_kp} keypoints lie within "
                            f"{self.near_px:g} px of another (mean distance {self.mean_distance:.1f} px)")
        missed = self.missed_parts()
        if missed:
            problems.append(f"no keypoint within {self.hit_px:g} px of {', '.join(missed)} on most frames")
        if not problems:
            return None
        return ("; ".join(problems) + ": the model will move the object as a whole and smear its parts "
                "(see docs/keypoint-collapse.md)")

    def summary(self) -> str:
        """One line: spread, heatmaps and part coverage."""
        text = f"keypoints: mean distance {self.mean_distance:.1f} px, {self.near_share:.0%} within {self.near_px:g} px"
        if self.heatmap_spread is not None:
            text += f", heatmap spread {self.heatmap_spread:.2f} px (peak {self.heatmap_peak:.2f})"
        if self.part_hits:
            parts = ", ".join(f"{n} {h:.0%}" for n, h in zip(self.part_names, self.part_hits, strict=True))
            text += f"; a keypoint within {self.hit_px:g} px of: {parts}"
        return text


# ----------------------------------------------------------------------------------- the measures
def keypoint_pixels(value: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Normalized keypoints (..., 2) in [-1, 1] -> pixels (x, y) of an (h, w) frame, pixel centres at
    integers (the edges -1 and 1 are -0.5 and w - 0.5), as ``fomm.animation`` draws them."""
    h, w = size
    scale = torch.tensor([w, h], dtype=torch.float32, device=value.device)
    return (value.detach().float() + 1) / 2 * scale - 0.5


def keypoint_spread(kp_pixels: torch.Tensor, near_px: float = NEAR_PX) -> tuple[float, float]:
    """(mean pairwise distance, share of keypoints within ``near_px`` of another) of (N, K, 2) pixels."""
    n, k, _ = kp_pixels.shape
    if k < 2:
        return math.nan, 0.0
    distance = torch.cdist(kp_pixels.float(), kp_pixels.float())  # (N, K, K)
    off_diagonal = ~torch.eye(k, dtype=torch.bool, device=distance.device)
    mean = distance[:, off_diagonal].mean()
    nearest = distance.masked_fill(~off_diagonal, math.inf).amin(dim=-1)  # (N, K)
    return float(mean), float((nearest <= near_px).float().mean())


def heatmap_peakiness(heatmap: torch.Tensor, size: tuple[int, int]) -> tuple[float, float]:
    """(spread in frame pixels, peak probability) of (N, K, h, w) heatmaps summing to 1, averaged.

    The spread is the square root of the heatmap's variance about its mean position, scaled from
    the heatmap's grid to the frame's pixels.
    """
    n, k, h, w = heatmap.shape
    heatmap = heatmap.detach().float()
    ys = torch.arange(h, dtype=torch.float32, device=heatmap.device) * (size[0] / h)
    xs = torch.arange(w, dtype=torch.float32, device=heatmap.device) * (size[1] / w)
    py, px = heatmap.sum(-1), heatmap.sum(-2)  # (N, K, h), (N, K, w)
    my, mx = (py * ys).sum(-1, keepdim=True), (px * xs).sum(-1, keepdim=True)
    variance = (py * (ys - my) ** 2).sum(-1) + (px * (xs - mx) ** 2).sum(-1)
    return float(variance.sqrt().mean()), float(heatmap.flatten(2).amax(-1).mean())


def part_coverage(kp_pixels: torch.Tensor | np.ndarray, positions: np.ndarray, visible: np.ndarray,
                  hit_px: float = HIT_PX) -> tuple[list[float], list[float]]:
    """Per part: (mean distance to the nearest keypoint, share of frames with one within ``hit_px``),
    over the frames where the part is visible (nan when it never is).

    ``kp_pixels`` (N, K, 2), ``positions`` (N, P, 2) ground-truth part centroids, ``visible`` (N, P).
    """
    kp = np.asarray(kp_pixels.cpu() if isinstance(kp_pixels, torch.Tensor) else kp_pixels, dtype=np.float64)
    distance = np.linalg.norm(positions[:, :, None, :].astype(np.float64) - kp[:, None, :, :], axis=-1).min(-1)
    means, hits = [], []
    for p in range(positions.shape[1]):
        seen = visible[:, p]
        means.append(float(distance[seen, p].mean()) if seen.any() else math.nan)
        hits.append(float((distance[seen, p] <= hit_px).mean()) if seen.any() else math.nan)
    return means, hits


# ----------------------------------------------------------------------------------- running a detector
@contextlib.contextmanager
def capture_heatmaps(kp_detector: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect the heatmaps (B, K, h, w) of every forward of ``kp_detector`` (a :class:`KPDetector`, or
    MRAA's region predictor, whose heatmaps are made the same way) while the block runs: a hook on its
    last convolution, so the network is left as it is."""
    heatmaps: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        b, k, h, w = output.shape
        prediction = output.detach().float().view(b, k, -1) / kp_detector.temperature
        heatmaps.append(F.softmax(prediction, dim=2).view(b, k, h, w))

    last = kp_detector.kp if hasattr(kp_detector, "kp") else kp_detector.regions
    handle = last.register_forward_hook(hook)
    try:
        yield heatmaps
    finally:
        handle.remove()


@dataclass
class ProbeSet:
    """Frames to diagnose keypoints on, with the ground-truth part tracks when there are any."""

    frames: torch.Tensor  # (N, 3, H, W) float in [0, 1]
    positions: np.ndarray | None = None  # (N, P, 2)
    visible: np.ndarray | None = None  # (N, P)
    part_names: tuple[str, ...] = ()


def probe_set(root_dir: str | Path, split: str = "test", num_videos: int = 8, frames_per_video: int = 8
              ) -> ProbeSet | None:
    """Evenly spaced frames of the first ``num_videos`` videos of a ``fomm synth`` dataset split that
    have tracks (``<video>.tracks.json`` beside a folder of PNG frames); None when there are none."""
    folder = Path(root_dir) / split
    tracks_files = sorted(folder.glob("*.tracks.json"))[:num_videos] if folder.is_dir() else []
    frames, positions, visible, names = [], [], [], None
    for path in tracks_files:
        video_dir = folder / path.name[: -len(".tracks.json")]
        pngs = sorted(video_dir.glob("*.png"))
        tracks = load_tracks(path)
        if not pngs or len(pngs) != tracks.num_frames:
            continue
        if names is not None and tracks.part_names != names:
            continue  # a different figure layout: keep one set of part names
        names = tracks.part_names
        picks = np.unique(np.linspace(0, len(pngs) - 1, frames_per_video).round().astype(int))
        from PIL import Image

        frames += [np.asarray(Image.open(pngs[i]).convert("RGB")) for i in picks]
        positions.append(tracks.positions[picks])
        visible.append(tracks.visible[picks])
    if not frames:
        return None
    return ProbeSet(to_tensor(np.stack(frames)), np.concatenate(positions), np.concatenate(visible), names)


class KeypointRecorder:
    """Collects the keypoints and heatmap measures of frames passed through a detector batch by batch
    (:meth:`add`), then gives their :class:`KeypointStats` (:meth:`stats`)."""

    def __init__(self, size: tuple[int, int], near_px: float = NEAR_PX, hit_px: float = HIT_PX):
        self.size, self.near_px, self.hit_px = size, near_px, hit_px
        self.values: list[torch.Tensor] = []
        self.spread_sum = self.peak_sum = 0.0

    def add(self, value: torch.Tensor, heatmap: torch.Tensor | None) -> None:
        """Keypoints (B, K, 2) normalized and their heatmaps (B, K, h, w) (None: not measured)."""
        self.values.append(value.detach().float().cpu())
        if heatmap is not None:
            spread, peak = heatmap_peakiness(heatmap, self.size)
            self.spread_sum += spread * len(value)
            self.peak_sum += peak * len(value)

    def stats(self, tracks: Tracks | ProbeSet | None = None) -> KeypointStats:
        """The measures of every frame added; with ``tracks`` (one entry per frame) also part coverage."""
        pixels = keypoint_pixels(torch.cat(self.values), self.size)
        n = len(pixels)
        mean_distance, near_share = keypoint_spread(pixels, self.near_px)
        stats = KeypointStats(n, pixels.shape[1], mean_distance, near_share, near_px=self.near_px, hit_px=self.hit_px)
        if self.peak_sum > 0:
            stats.heatmap_spread, stats.heatmap_peak = self.spread_sum / n, self.peak_sum / n
        if tracks is not None and tracks.positions is not None:
            if len(tracks.positions) != n:
                raise ValueError(f"{n} frames but tracks for {len(tracks.positions)}")
            stats.part_names = tuple(tracks.part_names)
            stats.part_distance, stats.part_hits = part_coverage(pixels, tracks.positions, tracks.visible,
                                                                 self.hit_px)
        return stats


@torch.no_grad()
def diagnose_keypoints(kp_detector: nn.Module, frames: torch.Tensor, tracks: Tracks | ProbeSet | None = None, *,
                       batch_size: int = 32, near_px: float = NEAR_PX, hit_px: float = HIT_PX) -> KeypointStats:
    """Run ``kp_detector`` (in eval mode, restored afterwards) on ``frames`` (N, 3, H, W) and measure
    its keypoints; with ``tracks`` (one per frame) also the distance of each part to its nearest one."""
    was_training = kp_detector.training
    kp_detector.eval()
    device = next(kp_detector.parameters()).device
    recorder = KeypointRecorder(tuple(frames.shape[2:]), near_px, hit_px)
    try:
        with capture_heatmaps(kp_detector) as heatmaps:
            for start in range(0, len(frames), batch_size):
                value = kp_detector(frames[start:start + batch_size].to(device)).value
                recorder.add(value, heatmaps.pop())
    finally:
        kp_detector.train(was_training)
    return recorder.stats(tracks)


def merge_stats(items: Sequence[KeypointStats]) -> KeypointStats:
    """Frame-weighted mean of stats of several videos (part measures only when all have the same parts)."""
    total = sum(s.num_frames for s in items)

    def mean(name: str) -> float | None:
        values = [getattr(s, name) for s in items]
        if any(v is None for v in values):
            return None
        return sum(v * s.num_frames for v, s in zip(values, items, strict=True)) / total

    merged = KeypointStats(total, items[0].num_kp, mean("mean_distance"), mean("near_share"), mean("heatmap_spread"),
                           mean("heatmap_peak"), near_px=items[0].near_px, hit_px=items[0].hit_px)
    names = items[0].part_names
    if names and all(s.part_names == names for s in items):
        merged.part_names = names
        for attr in ("part_distance", "part_hits"):
            columns = np.array([getattr(s, attr) for s in items], dtype=np.float64)  # (V, P)
            weights = np.array([s.num_frames for s in items], dtype=np.float64)[:, None] * ~np.isnan(columns)
            with np.errstate(invalid="ignore"):
                setattr(merged, attr, (np.nansum(columns * weights, 0) / weights.sum(0)).tolist())
    return merged


__all__ = ["HIT_PX", "NEAR_PX", "KeypointRecorder", "KeypointStats", "ProbeSet", "capture_heatmaps",
           "diagnose_keypoints", "heatmap_peakiness", "keypoint_pixels", "keypoint_spread", "merge_stats",
           "part_coverage", "probe_set"]
