"""Benchmark: the original demo's per-frame loop against ``fomm animate``'s streaming animator.

    python benchmarks/animate.py                 # 60- and 600-frame driving videos (slow on a CPU)
    python benchmarks/animate.py --quick         # 8 and 24 frames, a smoke run
    python benchmarks/animate.py --frames 60,600 --naive-frames 60 --batch-size 4

Both run the ``vox-256`` architecture with random weights (seed 0, so both get the same weights),
float32, on the CPU with ``torch.set_num_threads(2)``, on a 256x256 driving video of moving shapes
made with numpy, and both encode the result to H.264:

- naive: what the original ``demo.py`` does: the whole driving video read into memory, then per frame
  (batch 1) keypoints, normalization and ``generator(source, kp_norm, kp_source)``, which encodes
  the source again every frame; predictions kept in a list and written at the end;
- ours: :class:`fomm.animation.Animator` as ``fomm animate`` uses it: source encoded once, frames
  decoded in a background thread, batched (channels_last), encoded by a background writer as they
  come, with the command's allocator setting (``fomm.cli.common.steady_memory``).

Each configuration runs in a fresh subprocess, which reports its wall time and peak RSS
(``getrusage``'s ``ru_maxrss``). The max abs difference compares the float predictions of both on
the shortest clip both ran.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIZE = 256


# ------------------------------------------------------------------------------------------- media
def moving_shapes(n: int, size: int = SIZE) -> np.ndarray:
    """Frame generator of a circle and a square moving over a gradient: yields (size, size, 3) uint8."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    background = np.stack([xx / size * 120 + 40, yy / size * 120 + 40, np.full_like(xx, 90)], axis=-1)
    for i in range(n):
        t = 2 * np.pi * i / 50
        frame = background.copy()
        cx, cy = size / 2 + size / 4 * np.cos(t), size / 2 + size / 5 * np.sin(2 * t)
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 < (size / 8) ** 2] = (230, 60, 40)
        sx, sy = int(size / 2 + size / 5 * np.sin(t)), int(size / 3)
        frame[sy : sy + size // 6, sx - size // 12 : sx + size // 12] = (40, 200, 80)
        yield frame.astype(np.uint8)


def make_media(folder: Path, counts: list[int]) -> dict[int, Path]:
    from PIL import Image

    from fomm.io import VideoWriter

    source = next(moving_shapes(1))[::-1].copy()  # a different pose of the same scene
    Image.fromarray(source).save(folder / "source.png")
    videos = {}
    for n in counts:
        videos[n] = folder / f"driving-{n}.mp4"
        with VideoWriter(videos[n], fps=25) as writer:
            for frame in moving_shapes(n):
                writer.write(frame)
    return videos


# ------------------------------------------------------------------------------------------ workers
def _model(config: str):
    import torch

    import fomm

    torch.manual_seed(0)
    model = fomm.load_model(config, device="cpu")
    return model.float().eval()


def _dump(file, prediction) -> None:
    """Float predictions (3, H, W) appended as raw float32, for the difference (page cache, not RSS)."""
    if file is not None:
        file.write(prediction.detach().float().cpu().numpy().tobytes())


def worker_naive(args) -> dict:
    """The original demo.py's make_animation, with our readers so both paths see identical inputs."""
    import torch

    from fomm.animation.normalize import normalize_kp
    from fomm.io import VideoReader, VideoWriter, prepare_frame, read_image, to_tensor, to_uint8

    model = _model(args.config)
    dump = open(args.dump, "wb") if args.dump else None  # noqa: SIM115
    start = time.perf_counter()
    source = to_tensor(prepare_frame(read_image(args.source), SIZE))
    with VideoReader(args.driving) as reader:
        fps = reader.fps
        driving = torch.stack([to_tensor(prepare_frame(f, SIZE))[0] for f in reader], dim=1)[None]  # (1, 3, T, H, W)
    predictions = []
    with torch.no_grad():
        kp_source = model.kp_detector(source)
        kp_driving_initial = model.kp_detector(driving[:, :, 0])
        for frame_idx in range(driving.shape[2]):
            driving_frame = driving[:, :, frame_idx]
            kp_driving = model.kp_detector(driving_frame)
            kp_norm = normalize_kp(kp_source=kp_source, kp_driving=kp_driving, kp_driving_initial=kp_driving_initial,
                                   use_relative_movement=True, use_relative_jacobian=True)
            out = model.generator(source, kp_driving=kp_norm, kp_source=kp_source)
            predictions.append(np.transpose(out.prediction.cpu().numpy(), [0, 2, 3, 1])[0])
    with VideoWriter(args.output, fps=fps, overwrite=True) as writer:
        for prediction in predictions:
            writer.write(to_uint8(torch.from_numpy(prediction).permute(2, 0, 1)))
    seconds = time.perf_counter() - start
    if dump is not None:
        for prediction in predictions:
            _dump(dump, torch.from_numpy(prediction).permute(2, 0, 1))
        dump.close()
    return {"frames": len(predictions), "seconds": seconds}


def worker_ours(args) -> dict:
    """``fomm animate``'s pipeline: Animator.stream -> BackgroundWriter -> VideoWriter, with the
    allocator setting the command makes."""
    from fomm.animation import Animator
    from fomm.cli.common import steady_memory
    from fomm.io import BackgroundWriter, VideoReader, VideoWriter, read_image, to_uint8

    steady_memory()
    model = _model(args.config)
    dump = open(args.dump, "wb") if args.dump else None  # noqa: SIM115
    start = time.perf_counter()
    count = 0
    animator = Animator(model, read_image(args.source), size=SIZE, batch_size=args.batch_size)
    with VideoReader(args.driving) as reader, VideoWriter(args.output, fps=reader.fps, overwrite=True) as writer, \
            BackgroundWriter(writer) as background:
        for frame in animator.stream(reader, output="tensor"):
            _dump(dump, frame.image)
            background.write(to_uint8(frame.image))
            count += 1
    seconds = time.perf_counter() - start
    if dump is not None:
        dump.close()
    return {"frames": count, "seconds": seconds}


def run_worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    result = (worker_naive if args.worker == "naive" else worker_ours)(args)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------- driver
def spawn(kind: str, n: int, videos: dict[int, Path], folder: Path, args, dump: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--driving", str(videos[n]),
           "--source", str(folder / "source.png"), "--output", str(folder / f"out-{kind}-{n}.mp4"),
           "--config", args.config, "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    if dump is not None:
        cmd += ["--dump", str(dump)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    print(f"  {kind:5s} {n:4d} frames ...", end="", flush=True, file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"\n{kind} worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["fps"] = result["frames"] / result["seconds"]
    print(f" {result['fps']:.2f} fps, {result['peak_rss_mb']:.0f} MiB", file=sys.stderr)
    return result


def max_difference(a: Path, b: Path) -> float:
    x, y = np.fromfile(a, np.float32), np.fromfile(b, np.float32)
    if x.shape != y.shape:
        raise SystemExit(f"the two paths produced different frame counts ({x.size} vs {y.size} values)")
    return float(np.abs(x - y).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", default="60,600", help="driving video lengths (comma-separated)")
    parser.add_argument("--naive-frames", type=int, default=60,
                        help="run the naive loop only on clips up to this many frames (it is slow and holds the "
                             "whole video in memory)")
    parser.add_argument("--quick", action="store_true", help="8- and 24-frame clips, naive on 8")
    parser.add_argument("--config", default="vox-256")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=("naive", "ours"), help=argparse.SUPPRESS)
    for hidden in ("--driving", "--source", "--output", "--dump"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    if args.quick:
        args.frames, args.naive_frames = "8,24", 8
    counts = sorted({int(n) for n in args.frames.split(",")})
    with tempfile.TemporaryDirectory(prefix="fomm-bench-") as tmp:
        folder = Path(tmp)
        print(f"making driving videos of {counts} frames in {folder}", file=sys.stderr)
        videos = make_media(folder, counts)
        rows, difference = [], None
        for n in counts:
            naive = None
            diff_here = difference is None and n <= args.naive_frames
            if n <= args.naive_frames:
                naive = spawn("naive", n, videos, folder, args, folder / "naive.f32" if diff_here else None)
            ours = spawn("ours", n, videos, folder, args, folder / "ours.f32" if diff_here else None)
            if diff_here:
                difference = max_difference(folder / "naive.f32", folder / "ours.f32")
            rows.append((n, naive, ours))
    print_table(rows, difference, args)


def print_table(rows, difference, args) -> None:
    import torch

    print(f"\nvox-256 architecture ({args.config}, random weights), float32, CPU, {args.threads} threads, "
          f"batch size {args.batch_size}, torch {torch.__version__}")
    print(f"{'frames':>6} | {'naive fps':>9} | {'ours fps':>8} | {'ratio':>5} | {'naive peak RSS':>14} | "
          f"{'ours peak RSS':>13}")
    print("-" * 72)
    for n, naive, ours in rows:
        naive_fps = f"{naive['fps']:9.3f}" if naive else f"{'not run':>9}"
        ratio = f"{ours['fps'] / naive['fps']:5.2f}" if naive else f"{'-':>5}"
        naive_mem = f"{naive['peak_rss_mb']:10.0f} MiB" if naive else f"{'not run':>14}"
        print(f"{n:6d} | {naive_fps} | {ours['fps']:8.3f} | {ratio} | {naive_mem} | {ours['peak_rss_mb']:9.0f} MiB")
    if difference is not None:
        print(f"max abs difference of the float frames (naive vs ours, {rows[0][0]} frames): {difference:.2e}")
    ours_mem = [ours["peak_rss_mb"] for _, _, ours in rows]
    if len(ours_mem) > 1:
        growth = ours_mem[-1] / ours_mem[0] - 1
        print(f"ours peak RSS, {rows[-1][0]} vs {rows[0][0]} frames: {growth:+.1%}")


if __name__ == "__main__":
    main()
