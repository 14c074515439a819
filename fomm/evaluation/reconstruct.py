"""Video reconstruction, the paper's evaluation (Sec. 4.1): the first frame of a test video is the
source, every frame of the same video drives it, and the generated frames are compared with the real
ones. Keypoints are used as detected (absolute), as the original reconstruction did.

Reported per video and as the mean over videos: L1 (the paper's number), PSNR and SSIM, each also for
the "repeat the first frame" baseline, so a model that beats doing nothing is easy to tell. On
synthetic data (a ``<video>.tracks.json`` beside the video) the motion fidelity measures of
:mod:`fomm.data.synthetic` are added: AKD (pixels) and MKR, with parts found by color.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from ..data.datasets import DatasetError, FramesDataset, VideoFrames, validate_dataset
from ..data.synthetic import Tracks, load_tracks
from ..io import VideoWriter, atomic_path, to_uint8
from ..io.outputs import (
    OutputError,
    check_file_output,
    check_folder_output,
    check_output_name,
    partial_path,
    publish_folder,
    remove_path,
)
from ..model import FOMM
from ..precision import Precision
from . import metrics
from .keypoints import KeypointRecorder, KeypointStats, capture_heatmaps, merge_stats
from .parts import MeasuredParts, measure_parts, part_position_error

logger = logging.getLogger(__name__)

__all__ = ["ReconstructionResult", "Scores", "VideoResult", "reconstruct", "SAVE_MODES"]

SAVE_MODES = ("side-by-side", "prediction")
DEFAULT_FPS = 25.0
METRICS, VIDEOS = "metrics.json", "videos"  # what reconstruct writes in its out_dir


@dataclass
class Scores:
    """Reconstruction scores of one video or the mean over videos.

    ``psnr`` is that of the mean squared error over the frames: the per-frame PSNR of the baseline's
    first frame is infinite, which would make a per-frame average meaningless. ``akd`` (pixels) and
    ``mkr`` are None without ground-truth tracks.
    """

    l1: float
    psnr: float
    ssim: float
    akd: float | None = None
    mkr: float | None = None
    # {part name: {"akd": px, "mkr": share}} with tracks: which parts the motion transfer fails on
    parts: dict[str, dict[str, float]] | None = None


@dataclass
class VideoResult:
    name: str
    num_frames: int
    model: Scores
    baseline: Scores
    output: Path | None = None  # the saved video, if any
    keypoints: KeypointStats | None = None  # the driving frames' keypoint diagnostics


@dataclass
class ReconstructionResult:
    videos: list[VideoResult]
    model: Scores  # mean over videos
    baseline: Scores  # the same for "repeat the first frame"
    seconds: float
    metrics_path: Path | None = None
    split: str = "test"
    keypoints: KeypointStats | None = None  # keypoint diagnostics over all driving frames

    def keypoint_warning(self) -> str | None:
        """A sentence when the model's keypoints collapsed or miss parts (see docs/keypoint-collapse.md)."""
        return None if self.keypoints is None else self.keypoints.warning()

    @property
    def num_frames(self) -> int:
        return sum(v.num_frames for v in self.videos)

    def to_dict(self) -> dict:
        """Plain data for ``metrics.json`` (nan and inf become null)."""
        def scores(s: Scores) -> dict:
            out = {k: _finite(v) for k, v in asdict(s).items() if k != "parts"}
            if s.parts is not None:
                out["parts"] = {name: {k: _finite(v) for k, v in p.items()} for name, p in s.parts.items()}
            return out

        return {
            "protocol": "reconstruction: source = first frame, driving = every frame, absolute keypoints",
            "baseline": "repeat the first frame",
            "split": self.split,
            "num_videos": len(self.videos),
            "num_frames": self.num_frames,
            "seconds": round(self.seconds, 3),
            "model": scores(self.model),
            "first_frame_baseline": scores(self.baseline),
            "keypoints": None if self.keypoints is None else _keypoints_dict(self.keypoints),
            "videos": [{"name": v.name, "num_frames": v.num_frames, "model": scores(v.model),
                        "first_frame_baseline": scores(v.baseline),
                        "video": None if v.output is None else str(v.output)} for v in self.videos],
        }

    def save_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path``, atomically (a complete file or none)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def table(self, max_name: int = 32) -> str:
        """The per-video scores and their mean, model first and the first-frame baseline in brackets."""
        motion = any(v.model.akd is not None for v in self.videos)
        columns = [("L1", "l1", ".4f"), ("PSNR dB", "psnr", ".2f"), ("SSIM", "ssim", ".3f")]
        if motion:
            columns += [("AKD px", "akd", ".2f"), ("MKR", "mkr", ".3f")]

        def cell(model: Scores, base: Scores, key: str, spec: str) -> str:
            return f"{_fmt(getattr(model, key), spec)} ({_fmt(getattr(base, key), spec)})"

        rows = [[_shorten(v.name, max_name), str(v.num_frames)]
                + [cell(v.model, v.baseline, k, f) for _, k, f in columns] for v in self.videos]
        rows.append([f"mean of {_videos(len(self.videos))}", str(self.num_frames)]
                    + [cell(self.model, self.baseline, k, f) for _, k, f in columns])
        header = ["video", "frames"] + [f"{title} (first frame)" for title, _, _ in columns]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(r: list[str]) -> str:
            cells = zip(r, widths, strict=True)
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

        return "\n".join([line(header), *(line(r) for r in rows[:-1]), "-" * len(line(header)), line(rows[-1])])

    def summary(self) -> str:
        """One line: the model's mean scores against the baseline's."""
        m, b = self.model, self.baseline
        text = (f"L1 {_fmt(m.l1, '.4f')} (first frame {_fmt(b.l1, '.4f')}), PSNR {_fmt(m.psnr, '.2f')} dB "
                f"({_fmt(b.psnr, '.2f')}), SSIM {_fmt(m.ssim, '.3f')} ({_fmt(b.ssim, '.3f')})")
        if m.akd is not None or b.akd is not None:
            text += (f", AKD {_fmt(m.akd, '.2f')} px ({_fmt(b.akd, '.2f')}), "
                     f"MKR {_fmt(m.mkr, '.3f')} ({_fmt(b.mkr, '.3f')})")
        text += f" over {_videos(len(self.videos))}"
        if m.parts:
            text += "\nby part: " + ", ".join(
                f"{name} AKD {_fmt(p['akd'], '.2f')} px MKR {_fmt(p['mkr'], '.3f')}" for name, p in m.parts.items())
        if self.keypoints is not None:
            text += "\n" + self.keypoints.summary()
        return text


def _keypoints_dict(stats: KeypointStats) -> dict:
    out = {k: _finite(v) for k, v in stats.scalars().items()}
    out["collapsed"] = stats.collapsed
    return out


def _videos(n: int) -> str:
    return f"{n} video{'' if n == 1 else 's'}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _shorten(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


class _Running:
    """Running sums over the frames of one video."""

    def __init__(self, part_names: Sequence[str] | None):
        self.frames = 0
        self.l1 = self.sq = self.ssim = 0.0
        self.part_names = part_names
        # per part: distance sum, matched, missed and reference (frame, part) counts
        self.part_counts = np.zeros((4, len(part_names or ())), dtype=np.float64)

    def add(self, prediction: torch.Tensor, real: torch.Tensor, real_parts: MeasuredParts | None,
            colors: np.ndarray | None) -> None:
        self.frames += prediction.shape[0]
        self.l1 += float(metrics.l1(prediction, real).double().sum())
        self.sq += float(metrics.mse(prediction, real).double().sum())
        self.ssim += float(metrics.ssim(prediction, real).sum())
        if self.part_names is not None:
            error = part_position_error(to_uint8(prediction), real_parts, colors)
            self.part_counts += np.array([error.part_distance_sum, error.part_matched, error.part_missed,
                                          error.part_reference], dtype=np.float64)

    def scores(self) -> Scores:
        n = max(self.frames, 1)
        out = Scores(l1=self.l1 / n, psnr=metrics.psnr_from_mse(self.sq / n), ssim=self.ssim / n)
        if self.part_names is not None:
            distance, matched, missed, reference = self.part_counts
            out.akd = _ratio(distance.sum(), matched.sum())
            out.mkr = _ratio(missed.sum(), reference.sum())
            out.parts = {name: {"akd": _ratio(distance[k], matched[k]), "mkr": _ratio(missed[k], reference[k])}
                         for k, name in enumerate(self.part_names)}
        return out


def _ratio(total: float, count: float) -> float:
    return float(total / count) if count else math.nan


def _mean(scores: Sequence[Scores]) -> Scores:
    def avg(key: str) -> float | None:
        values = [getattr(s, key) for s in scores if getattr(s, key) is not None]
        values = [v for v in values if not math.isnan(v)]
        return float(np.mean(values)) if values else None

    if not scores:
        return Scores(math.nan, math.nan, math.nan)
    psnrs = [s.psnr for s in scores]
    # An exact reconstruction has infinite PSNR; the mean is then infinite too, honestly.
    return Scores(l1=avg("l1"), psnr=float(np.mean(psnrs)), ssim=avg("ssim"),
                  akd=avg("akd") if any(s.akd is not None for s in scores) else None,
                  mkr=avg("mkr") if any(s.mkr is not None for s in scores) else None,
                  parts=_mean_parts([s.parts for s in scores if s.parts is not None]))


def _mean_parts(per_video: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]] | None:
    """Each part's scores averaged over the videos that show it (as the overall AKD/MKR are)."""
    if not per_video:
        return None
    names = list(dict.fromkeys(name for parts in per_video for name in parts))

    def avg(name: str, key: str) -> float:
        values = [parts[name][key] for parts in per_video if name in parts and not math.isnan(parts[name][key])]
        return float(np.mean(values)) if values else math.nan

    return {name: {key: avg(name, key) for key in ("akd", "mkr")} for name in names}


def _tracks(video: VideoFrames) -> Tracks | None:
    """The synthetic tracks beside the video, if any."""
    folder = video.path.parent
    for candidate in (folder / f"{video.name}.tracks.json", folder / f"{video.path.stem}.tracks.json"):
        if candidate.is_file():
            try:
                return load_tracks(candidate)
            except (ValueError, KeyError, OSError) as exc:
                logger.warning("ignoring %s: %s", candidate, exc)
    return None


def _reconstruct_batch(model: FOMM, features, source: torch.Tensor, kp_source, real: torch.Tensor,
                       precision: Precision):
    """The batch ``real`` generated from the source: (prediction, driving motion, its heatmaps). A model
    with its own ``reconstruction_step`` (MRAA, TPSMM: with background motion, as their papers evaluate) uses it."""
    step = getattr(model, "reconstruction_step", None)
    if step is not None:
        with precision.autocast():
            return step(features, source, kp_source, real)
    with precision.autocast(), capture_heatmaps(model.kp_detector) as heatmaps:
        kp_driving = model.kp_detector(real)
    with precision.autocast():
        prediction = model.generator.decode(features, source, kp_driving, kp_source, visualize=False).prediction
    return prediction, kp_driving, heatmaps[0]


@torch.no_grad()
def _reconstruct_video(model: FOMM, video: VideoFrames, batch_size: int, save: str | None, out_path: Path | None,
                       fps: float, on_frames: Callable[[int], None], precision: Precision) -> VideoResult:
    device = model.device
    tracks = _tracks(video)
    colors = None if tracks is None else tracks.part_colors
    names = None if tracks is None else tracks.part_names
    ours, base = _Running(names), _Running(names)
    batches = video.batches(batch_size)
    first = next(batches, None)
    if first is None:
        raise DatasetError(f"{video.path} has no frames")
    source = first[:1].to(device)  # (1, 3, H, W)
    with precision.autocast():  # the networks only: the scores stay float32
        kp_source = (getattr(model, "detect_motion", None) or model.kp_detector)(source)
        features = (getattr(model, "encode_source", None) or model.generator.encode_source)(source)  # once
    writer = VideoWriter(out_path, fps=fps) if save else None
    recorder = KeypointRecorder(tuple(first.shape[2:]))
    try:
        for real in chain([first], batches):
            real = real.to(device)  # (B, 3, H, W)
            prediction, kp_driving, heatmaps = _reconstruct_batch(model, features, source, kp_source, real, precision)
            recorder.add(kp_driving.value, heatmaps)
            prediction = prediction.to(real.dtype)
            real_parts = measure_parts(to_uint8(real), colors) if colors is not None else None  # once for both
            ours.add(prediction, real, real_parts, colors)
            base.add(source.expand_as(real), real, real_parts, colors)
            if writer is not None:
                shown = prediction if save == "prediction" else torch.cat([real, prediction], dim=3)
                writer.write_batch(to_uint8(shown))
            on_frames(real.shape[0])
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
    if tracks is not None and tracks.num_frames != ours.frames:
        logger.warning("%s: its tracks have %d frames, the video %d: part coverage not measured", video.name,
                       tracks.num_frames, ours.frames)
        tracks = None
    return VideoResult(video.name, ours.frames, ours.scores(), base.scores(), out_path if save else None,
                       recorder.stats(tracks))


def video_output_names(names: Sequence[str]) -> list[str]:
    """A distinct file stem per video name: the stem (``a.mp4`` -> ``a``) unless two videos share it
    (``a.mp4`` and ``a.avi`` -> ``a_mp4``, ``a_avi``); compared case-insensitively, as some file systems do."""
    stems = [Path(name).stem for name in names]
    shared = Counter(stem.lower() for stem in stems)
    used: set[str] = set()
    result = []
    for name, stem in zip(names, stems, strict=True):
        base = stem if shared[stem.lower()] == 1 else name.replace(".", "_")
        candidate, k = base, 2
        while candidate.lower() in used:
            candidate, k = f"{base}-{k}", k + 1
        used.add(candidate.lower())
        result.append(candidate)
    return result


def check_outputs(out_dir: str | Path, *, save_videos: str | None, overwrite: bool,
                  inputs: Sequence[str | Path | None] = ()) -> None:
    """Refuse to mix with earlier results: ``out_dir/metrics.json`` and ``out_dir/videos/`` are replaced
    only with ``overwrite`` (``videos/`` only if fomm wrote it), never when they are ``inputs``."""
    check_output_name(out_dir, "--out", kind="folder")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder")
    check_file_output(out / METRICS, overwrite=overwrite, inputs=inputs)
    if save_videos or (out / VIDEOS).exists():  # earlier videos go too: they would not match the new metrics
        check_folder_output(out / VIDEOS, overwrite=overwrite, inputs=inputs)


def frame_shape_of(model: FOMM, frame_shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """The frames' (H, W, 3): as given, else the config's ``dataset_params.frame_shape``, else its frame size."""
    size = model.config.frame_size  # TPSMM's published configs leave frame_shape null
    return tuple(frame_shape or model.config.dataset_params.frame_shape or (size, size, 3))


def open_split(model: FOMM, root: str | Path, split: str = "test",
               frame_shape: Sequence[int] | None = None) -> FramesDataset:
    """The ``split`` of the dataset at ``root``, checked for ``model`` (frames of :func:`frame_shape_of`)."""
    shape = frame_shape_of(model, frame_shape)
    fomm_config = model.config if getattr(model, "family", "fomm") == "fomm" else None
    validate_dataset(root, shape, fomm_config, id_sampling=False, splits=(split,))
    if fomm_config is None:  # another family's networks check the frame size themselves
        from ..families import backend_for

        backend_for(model, channels_last=False).check_size(int(shape[0]))
    return FramesDataset(root, shape, is_train=split == "train")


def video_result_dict(result: VideoResult) -> dict:
    """One video's result as plain data, floats exact (nan and inf kept), for :func:`video_result_from`."""
    return {"name": result.name, "num_frames": result.num_frames, "model": asdict(result.model),
            "baseline": asdict(result.baseline),
            "keypoints": None if result.keypoints is None else asdict(result.keypoints)}


def video_result_from(data: dict, output: Path | None = None) -> VideoResult:
    """The :class:`VideoResult` of :func:`video_result_dict`."""
    keypoints = data["keypoints"]
    if keypoints is not None:
        keypoints = KeypointStats(**{**keypoints, "part_names": tuple(keypoints["part_names"])})
    return VideoResult(data["name"], data["num_frames"], Scores(**data["model"]), Scores(**data["baseline"]),
                       output, keypoints)


def summarize(results: Sequence[VideoResult], seconds: float, split: str) -> ReconstructionResult:
    """The result over videos: the mean scores and the keypoint diagnostics of all frames."""
    return ReconstructionResult(list(results), _mean([r.model for r in results]), _mean([r.baseline for r in results]),
                                seconds, split=split,
                                keypoints=merge_stats([r.keypoints for r in results]) if results else None)


def check_settings(save_videos: str | None, out_dir: object, batch_size: int) -> None:
    """The settings a reconstruction refuses before any work (a caller's bug, not a user's input)."""
    if save_videos is not None and save_videos not in SAVE_MODES:
        raise ValueError(f"save_videos must be one of {', '.join(SAVE_MODES)} or None, got {save_videos!r}")
    if save_videos is not None and out_dir is None:
        raise ValueError("save_videos needs out_dir")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def reconstruct(model: FOMM, dataset_or_root: FramesDataset | str | Path, *, split: str = "test",
                batch_size: int = 16, max_videos: int | None = None, out_dir: str | Path | None = None,
                save_videos: str | None = None, frame_shape: Sequence[int] | None = None,
                progress: Callable[[int, int], None] | None = None, overwrite: bool = False,
                precision: str | torch.dtype = "fp32", allow_slow: bool = False) -> ReconstructionResult:
    """Reconstruct every video of a split and score it (see the module docstring).

    ``dataset_or_root``: a :class:`FramesDataset` or a dataset root (its ``split`` is used, frames
    of ``frame_shape``, by default the model config's ``dataset_params.frame_shape``).
    ``out_dir``: where ``metrics.json`` (per video and overall) and, with ``save_videos``
    (``"side-by-side"``: real | generated, or ``"prediction"``), ``videos/<name>.mp4`` are written (names
    from :func:`video_output_names`); earlier results there are replaced only with ``overwrite`` (see
    :func:`check_outputs`), and only once the new ones are complete.
    ``progress(frames_done, frames_total)`` is called after each batch. ``precision``/``allow_slow``:
    the arithmetic of the networks (see :mod:`fomm.precision`; the scores are computed in float32).
    The model runs in eval mode without gradients, on its own device; its mode is restored after.
    """
    check_settings(save_videos, out_dir, batch_size)
    dataset = dataset_or_root if isinstance(dataset_or_root, FramesDataset) else open_split(
        model, dataset_or_root, split, frame_shape)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        check_outputs(out, save_videos=save_videos, overwrite=overwrite,
                      inputs=[None if isinstance(dataset_or_root, FramesDataset) else dataset_or_root])
    videos = [dataset.video(i) for i in range(len(dataset.entries))][:max_videos]
    names = video_output_names([video.name for video in videos])
    total = sum(len(v) for v in videos)
    done = 0

    def on_frames(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    chosen = Precision.resolve(precision, model.device, allow_slow)
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    results = []
    # Videos go to a hidden folder that replaces videos/ once all are written (with metrics.json).
    staging = None if out is None or not save_videos else partial_path(out / VIDEOS)
    try:
        if staging is not None:
            remove_path(staging)  # left by a killed run
            staging.mkdir(parents=True)
        for video, name in zip(videos, names, strict=True):
            path = None if staging is None else staging / f"{name}.mp4"
            fps = video.fps or DEFAULT_FPS
            result = _reconstruct_video(model, video, batch_size, save_videos, path, fps, on_frames, chosen)
            result.output = None if path is None else out / VIDEOS / path.name
            logger.info("%s: L1 %.4f (first frame %.4f)", video.name, result.model.l1, result.baseline.l1)
            results.append(result)
        result = summarize(results, time.perf_counter() - start, split)
        if result.keypoint_warning():
            logger.warning("%s", result.keypoint_warning())
        if out is not None:
            result.metrics_path = result.save_json(out / METRICS)
            if staging is not None:
                publish_folder(staging, out / VIDEOS, "fomm reconstruct")
            elif (out / VIDEOS).exists():  # checked above: fomm's, and --overwrite given
                remove_path(out / VIDEOS)
    finally:
        model.train(was_training)
        if staging is not None:
            remove_path(staging)
    return result
