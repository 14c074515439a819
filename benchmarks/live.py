"""Benchmark: ``fomm live`` speed and end-to-end latency, with a video file played as a 25 fps camera.

    python benchmarks/live.py                    # bundled model and vox-256 (random weights), 8 s each
    python benchmarks/live.py --seconds 4 --threads 1,2

For each model and thread count: a clip of moving shapes at the model's size, played in real time
(frame i arrives at i / 25 s) into :class:`fomm.live.LiveSession`, results handed to an output that
discards them (a window or a virtual camera costs about the same). Reported: achieved fps, latency
from a frame's arrival to its result (median and 95th percentile), frames dropped, and as the
baseline the same animator's offline speed at batch 1 on the same frames (every frame, no camera),
measured in the same run: ``live / offline`` near 1 means the live loop adds no cost of its own.
The CPU time per live frame (all threads: camera, decode, networks) is what an idle machine would
need per frame, whatever else shares the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fomm.animation import Animator
from fomm.api import load_model
from fomm.cli.demo import asset
from fomm.io import VideoWriter
from fomm.live import Camera, LiveAnimator, LiveSession, Output, VideoFileSource

CAMERA_FPS = 25


def moving_shapes(n: int, size: int):
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    for i in range(n):
        t = 2 * np.pi * i / 50
        frame = np.full((size, size, 3), 90, np.uint8)
        cx, cy = size / 2 + size / 4 * np.cos(t), size / 2 + size / 5 * np.sin(2 * t)
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 < (size / 8) ** 2] = (230, 60, 40)
        yield frame


def run(name: str, model, size: int, seconds: float, folder: Path) -> dict:
    clip = folder / f"{name}.mp4"
    frames = list(moving_shapes(int(seconds * CAMERA_FPS), size))
    with VideoWriter(clip, fps=CAMERA_FPS, overwrite=True) as writer:
        for frame in frames:
            writer.write(frame)
    source = asset("source.png")
    animator = Animator(model, source, batch_size=1)
    list(animator.stream(frames[:2]))  # warm up
    count = min(len(frames), 20)
    start = time.perf_counter()
    for _ in animator.stream(frames[:count]):
        pass
    offline = count / (time.perf_counter() - start)
    cpu = time.process_time()
    stats = LiveSession(LiveAnimator(model, [source]), Camera(VideoFileSource(clip)), Output()).run()
    cpu_per_frame = (time.process_time() - cpu) / max(stats.animated, 1)
    return {"model": name, "offline": offline, "fps": stats.fps, "p50": stats.latency(0.5),
            "p95": stats.latency(0.95), "dropped": stats.dropped, "captured": stats.captured, "cpu": cpu_per_frame}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the camera clip")
    parser.add_argument("--threads", default="2", help="comma-separated torch thread counts")
    parser.add_argument("--models", default="default,vox-256", help="bundled 'default' and/or presets")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}, torch {torch.__version__}, camera {CAMERA_FPS} fps, {args.seconds:g} s clip")
    print("| model | threads | offline fps (batch 1) | live fps | live / offline | latency p50 | latency p95 | dropped "
          "| CPU time per live frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model = load_model(name, device="cpu")
            for threads in map(int, args.threads.split(",")):
                torch.set_num_threads(threads)
                r = run(name, model, model.config.frame_size, args.seconds, Path(tmp))
                print(f"| {name} ({model.config.frame_size} px) | {threads} | {r['offline']:.1f} | {r['fps']:.1f} | "
                      f"{r['fps'] / r['offline']:.2f} | {1000 * r['p50']:.0f} ms | {1000 * r['p95']:.0f} ms | "
                      f"{r['dropped']} of {r['captured']} | {1000 * r['cpu']:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
