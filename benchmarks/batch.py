"""Benchmark: ``fomm batch`` with 1, 2 and 4 workers against a shell loop of ``fomm animate`` over the same
manifest of short clips (the way people animate many pairs without a batch engine).

    python benchmarks/batch.py                       # 16 pairs of 32-frame clips, the bundled model, the CPU
    python benchmarks/batch.py --quick               # 4 pairs of 8 frames, a smoke run
    python benchmarks/batch.py --pairs 32 --frames 64 --workers 1,2,4 --checkpoint vox-cpk.pth.tar --size 256
    python benchmarks/batch.py --device cuda --workers 1,2,4   # on a GPU: workers per GPU
    python benchmarks/batch.py --device cuda --codec-device cpu   # on a GPU without NVDEC/NVENC (auto: with)

Every configuration writes the same outputs (the shell loop's and each batch run's are compared
byte for byte on the CPU, where both run the same arithmetic); each runs from a fresh output folder,
in a fresh process (the batch launching its own workers), so start-up and model loading count as a
user would see them: the shell loop pays them once per pair, the batch once per worker. The table
gives wall time, pairs per minute, frames per second and the ratio to the shell loop's frames/s,
with the CPU's model and flags (and the GPU's name on CUDA).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cpu_description() -> str:
    from fomm.precision import cpu_features

    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    shown = ", ".join(f"{'' if f in flags else 'NO '}{f}" for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile"))
    from fomm.batch.engine import available_cpus

    return f"{cpu_features().model}, {available_cpus()} cores usable, {shown}"


def make_manifest(folder: Path, pairs: int, frames: int, size: int) -> Path:
    """``pairs`` rows over a few sources and clips of ``frames`` frames of moving shapes (64 px by default)."""
    import numpy as np
    from PIL import Image

    from fomm.io import VideoWriter

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    sources, clips = max(2, pairs // 4), max(2, min(pairs, 4))
    for i in range(sources):
        picture = (rng.random((size, size, 3)) * 60 + 80).astype(np.uint8)
        picture[(yy - size / 2) ** 2 + (xx - size / 2 - i) ** 2 < (size / 4) ** 2] = (200, 80, 60)
        Image.fromarray(picture).save(folder / f"source{i}.png")
    for j in range(clips):
        with VideoWriter(folder / f"clip{j}.mp4", fps=25) as writer:
            for t in range(frames):
                frame = np.full((size, size, 3), 40, np.uint8)
                cx, cy = size / 2 + size / 5 * np.cos(t / 5 + j), size / 2 + size / 6 * np.sin(t / 4 + j)
                frame[(yy - cy) ** 2 + (xx - cx) ** 2 < (size / 5) ** 2] = (220, 200, 90)
                writer.write(frame)
    rows = [f"source{k % sources}.png,clip{(k // sources) % clips}.mp4,pair{k}.mp4" for k in range(pairs)]
    manifest = folder / "pairs.csv"
    manifest.write_text("source,driving,output\n" + "\n".join(rows) + "\n")
    return manifest


def shell_loop(manifest: Path, out: Path, extra: list[str]) -> float:
    """What one would write without ``fomm batch``: a loop over the manifest calling ``fomm animate``."""
    out.mkdir()
    options = " ".join(shlex.quote(a) for a in extra)
    script = (f"cd {shlex.quote(str(manifest.parent))} && tail -n +2 {shlex.quote(manifest.name)} | "
              f"while IFS=, read -r s d o; do {shlex.quote(sys.executable)} -m fomm animate \"$s\" \"$d\" "
              f"-o {shlex.quote(str(out))}/\"$o\" {options} >/dev/null 2>&1 || exit 1; done")
    start = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True, env=_env())
    return time.perf_counter() - start


def batch_run(manifest: Path, out: Path, workers: int, extra: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fomm", "batch", str(manifest), "-o", str(out), "--workers", str(workers),
                    *extra], check=True, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.mp4"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--frames", type=int, default=32, help="frames per driving clip")
    parser.add_argument("--size", type=int, default=64, help="clip and source size in pixels")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run")
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--codec-device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="video decoding/encoding: auto (NVDEC/NVENC where the GPU has them), cpu, cuda")
    parser.add_argument("--quick", action="store_true", help="4 pairs of 8 frames")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.frames, args.workers = 4, 8, "1,2"
    extra = ["--checkpoint", args.checkpoint, "--device", args.device, "--codec-device", args.codec_device]
    with tempfile.TemporaryDirectory(prefix="fomm-batch-bench-") as tmp:
        folder = Path(tmp)
        manifest = make_manifest(folder, args.pairs, args.frames, args.size)
        total_frames = args.pairs * args.frames
        results = [("shell loop of fomm animate", shell_loop(manifest, folder / "loop", extra))]
        reference = _outputs(folder / "loop")
        for workers in (int(w) for w in args.workers.split(",")):
            out = folder / f"batch{workers}"
            results.append((f"fomm batch --workers {workers}", batch_run(manifest, out, workers, extra)))
            if args.device == "cpu" and _outputs(out) != reference:
                sys.exit(f"fomm batch --workers {workers} wrote other bytes than fomm animate")
    base_fps = total_frames / results[0][1]
    print(f"CPU: {cpu_description()}; load average {os.getloadavg()[0]:.1f} at the end")
    if args.device.startswith("cuda"):
        import torch

        print(f"GPU: {torch.cuda.get_device_name(args.device)}")
    print(f"{args.pairs} pairs x {args.frames} frames at {args.size} px, checkpoint {args.checkpoint}, "
          f"device {args.device}, codec device {args.codec_device}")
    print(f"| {'run':<30} | {'wall s':>7} | {'pairs/min':>9} | {'frames/s':>8} | {'vs loop':>7} |")
    print(f"|{'-' * 32}|{'-' * 9}|{'-' * 11}|{'-' * 10}|{'-' * 9}|")
    for name, seconds in results:
        fps = total_frames / seconds
        print(f"| {name:<30} | {seconds:7.1f} | {args.pairs / seconds * 60:9.1f} | {fps:8.1f} | "
              f"{fps / base_fps:6.2f}x |")


if __name__ == "__main__":
    main()
