"""Benchmark: the original demo's per-frame loop against ``fomm animate``'s streaming animator, at
each precision and backend.

    python benchmarks/animate.py                 # 60- and 600-frame driving videos (slow on a CPU)
    python benchmarks/animate.py --quick         # 8 and 24 frames, a smoke run
    python benchmarks/animate.py --frames 60,600 --naive-frames 60 --batch-size 4
    python benchmarks/animate.py --frames 60 --variants fp32,bf16,onnxruntime
    python benchmarks/animate.py --device cuda --frames 60 --variants fp32,fp16,bf16 --batch-size 16
    python benchmarks/animate.py --config tpsmm-vox-256 --frames 8,24 --naive-frames 8   # the TPSMM row
    python benchmarks/animate.py --config mraa-vox-256 --frames 8,24 --naive-frames 8    # the MRAA row (avd)

Variants of ``ours`` (``--variants``): ``fp32`` (the reference of the differences), ``bf16``/``fp16``
(``--precision``; on a CPU without native support they run emulated, slower than fp32, on the
``--emulated-frames`` first frames only, for their accuracy), ``onnxruntime`` (the model exported
with ``fomm export``, run by :class:`fomm.export.OnnxBackend`; export time reported apart),
``compiled`` (fp32 with ``compile=True``, i.e. ``fomm animate --compile``: its compile time, which
inductor's on-disk cache shortens on later runs, is reported apart, and "steady fps" counts the frames
after the first batch, which waits for the compiler).

Both run the ``vox-256`` architecture (``--config``: any preset of any family, e.g. ``tpsmm-vox-256``,
whose naive loop is then that family's own demo) with random weights (seed 0, so both get the same weights),
float32, on the CPU with ``torch.set_num_threads(2)``, on a 256x256 driving video of moving shapes
made with numpy, and both encode the result to H.264. ``--device cuda`` (or ``cuda:1``) runs both on
that GPU instead (torch variants only; default variants fp32,bf16,fp16) and adds its peak memory:

- naive: what the original ``demo.py`` does: the whole driving video read into memory, then per frame
  (batch 1) keypoints, normalization and ``generator(source, kp_norm, kp_source)``, which encodes
  the source again every frame; predictions kept in a list and written at the end;
- ours: :class:`fomm.animation.Animator` as ``fomm animate`` uses it: source encoded once, frames
  decoded in a background thread, batched (channels_last), encoded by a background writer as they
  come, with the command's allocator setting (``fomm.cli.common.steady_memory``).

Each configuration runs in a fresh subprocess, which reports its wall time and peak RSS
(``getrusage``'s ``ru_maxrss``); ``--repeat N`` runs every configuration N times, interleaved, and
keeps each one's fastest run (the machine may be shared). The max abs difference and the PSNR compare
the float predictions with ours at fp32 on the shortest clip both ran. The CPU model and its
bf16/AMX flags are printed with the table, and the GPU's name on CUDA.
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
from contextlib import closing
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
def _model(config: str, device: str = "cpu"):
    import torch

    import fomm

    torch.manual_seed(0)  # the weights are drawn on the CPU, then moved: the same on every device
    model = fomm.load_model(config, device="cpu")
    return model.float().eval().to(device)


def worker_export(args) -> dict:
    """Export the benchmark's model (same seed, same weights) for the onnxruntime variant."""
    from fomm.export import export_onnx

    model = _model(args.config)
    start = time.perf_counter()
    export_onnx(model, args.output, size=SIZE, overwrite=True)
    return {"frames": 0, "seconds": time.perf_counter() - start}


def _synchronize(device: str) -> None:
    """Wait for the GPU's queued work, so that the time taken after it covers it (a no-op on the CPU)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _dump(file, prediction) -> None:
    """Float predictions (3, H, W) appended as raw float32, for the difference (page cache, not RSS)."""
    if file is not None:
        file.write(prediction.detach().float().cpu().numpy().tobytes())


def _naive_fomm(model, source, driving, device: str) -> list[np.ndarray]:
    """first-order-model's demo.py make_animation (relative, no adapt scale)."""
    import torch

    from fomm.animation.normalize import normalize_kp

    predictions = []
    with torch.no_grad():
        kp_source = model.kp_detector(source)
        kp_driving_initial = model.kp_detector(driving[:, :, 0].to(device))
        for frame_idx in range(driving.shape[2]):
            driving_frame = driving[:, :, frame_idx].to(device)  # demo.py's .cuda(), one frame at a time
            kp_driving = model.kp_detector(driving_frame)
            kp_norm = normalize_kp(kp_source=kp_source, kp_driving=kp_driving, kp_driving_initial=kp_driving_initial,
                                   use_relative_movement=True, use_relative_jacobian=True)
            out = model.generator(source, kp_driving=kp_norm, kp_source=kp_source)
            predictions.append(np.transpose(out.prediction.cpu().numpy(), [0, 2, 3, 1])[0])
    return predictions


def _naive_tpsmm(model, source, driving, device: str) -> list[np.ndarray]:
    """Thin-Plate-Spline-Motion-Model's demo.py make_animation (relative: hull-scaled every frame; the
    inpainting network encodes the source again every frame)."""
    import torch

    from fomm.animation.normalize import movement_scale
    from fomm.models import Keypoints

    predictions = []
    with torch.no_grad():
        kp_source = model.kp_detector(source)
        kp_driving_initial = model.kp_detector(driving[:, :, 0].to(device))
        for frame_idx in range(driving.shape[2]):
            kp_driving = model.kp_detector(driving[:, :, frame_idx].to(device))
            scale = movement_scale(kp_source, kp_driving_initial)  # the demo's ConvexHull, every frame
            kp_norm = Keypoints((kp_driving.value - kp_driving_initial.value) * scale + kp_source.value)
            motion = model.dense_motion_network(source, kp_norm, kp_source)
            out = model.inpainting_network(source, motion)
            predictions.append(np.transpose(out.prediction.cpu().numpy(), [0, 2, 3, 1])[0])
    return predictions


def _naive_mraa(model, source, driving, device: str) -> list[np.ndarray]:
    """MRAA's demo loop as its paper and README describe it (its code carries no licence and is not read):
    the whole video in memory, per frame (batch 1) the driving regions, the demo's default mode (avd: the
    AVD network's regions of the source's shape in the driving pose) and the generator on the source,
    which encodes it again every frame."""
    import torch

    predictions = []
    with torch.no_grad():
        regions_source = model.region_predictor(source)
        for frame_idx in range(driving.shape[2]):
            regions_driving = model.region_predictor(driving[:, :, frame_idx].to(device))
            regions = model.avd_network(regions_source, regions_driving)
            out = model.generator(source, regions, regions_source)
            predictions.append(np.transpose(out.prediction.cpu().numpy(), [0, 2, 3, 1])[0])
    return predictions


NAIVE = {"fomm": _naive_fomm, "tpsmm": _naive_tpsmm, "mraa": _naive_mraa}  # each family's own demo loop


def worker_naive(args) -> dict:
    """The original demo.py's make_animation, with our readers so both paths see identical inputs."""
    import torch

    from fomm.io import VideoReader, VideoWriter, prepare_frame, read_image, to_tensor, to_uint8

    model = _model(args.config, args.device)
    dump = open(args.dump, "wb") if args.dump else None  # noqa: SIM115
    start = time.perf_counter()
    source = to_tensor(prepare_frame(read_image(args.source), SIZE)).to(args.device)
    with VideoReader(args.driving) as reader:
        fps = reader.fps
        driving = torch.stack([to_tensor(prepare_frame(f, SIZE))[0] for f in reader], dim=1)[None]  # (1, 3, T, H, W)
    predictions = NAIVE[getattr(model, "family", "fomm")](model, source, driving, args.device)
    with VideoWriter(args.output, fps=fps, overwrite=True) as writer:
        for prediction in predictions:
            writer.write(to_uint8(torch.from_numpy(prediction).permute(2, 0, 1)))
    _synchronize(args.device)
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
    if args.variant == "onnxruntime":
        from fomm.export import load_onnx_backend

        model, options = load_onnx_backend(args.model), {}
    else:
        model = _model(args.config, args.device)
        options = {"precision": args.variant, "allow_slow": True}
        if args.variant == "compiled":
            options = {"precision": "fp32", "compile": True}
    dump = open(args.dump, "wb") if args.dump else None  # noqa: SIM115
    start = time.perf_counter()
    count = 0
    animator = Animator(model, read_image(args.source), size=SIZE, batch_size=args.batch_size, **options)
    with VideoReader(args.driving) as reader, VideoWriter(args.output, fps=reader.fps, overwrite=True) as writer, \
            BackgroundWriter(writer) as background, closing(animator.stream(reader, output="tensor")) as stream:
        for frame in stream:
            _dump(dump, frame.image)
            background.write(to_uint8(frame.image))
            count += 1
            if count == args.batch_size:  # the first batch (with the compiler's time when compiling)
                first_batch = time.perf_counter()  # frame.image was copied to the CPU: synchronized
    _synchronize(args.device)
    seconds = time.perf_counter() - start
    if dump is not None:
        dump.close()
    steady = (count - args.batch_size) / (start + seconds - first_batch) if count > args.batch_size else None
    return {"frames": count, "seconds": seconds, "steady_fps": steady,
            "compile_seconds": getattr(animator.backend, "compile_seconds", None)}


def run_worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    result = {"naive": worker_naive, "ours": worker_ours, "export": worker_export}[args.worker](args)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    if torch.device(args.device).type == "cuda":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(args.device) / 2**20
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------- driver
VARIANTS = ("fp32", "bf16", "fp16", "onnxruntime", "compiled")


def spawn(kind: str, n: int, videos: dict[int, Path], folder: Path, args, dump: Path | None = None,
          variant: str = "fp32") -> dict:
    label = kind if kind != "ours" else f"ours {variant}"
    cmd = [sys.executable, __file__, "--worker", kind, "--variant", variant, "--model", str(folder / "onnx"),
           "--source", str(folder / "source.png"), "--output", str(folder / f"out-{kind}-{variant}-{n}.mp4"),
           "--config", args.config, "--batch-size", str(args.batch_size), "--threads", str(args.threads),
           "--device", args.device if kind != "export" else "cpu"]
    if kind == "export":
        cmd[cmd.index("--output") + 1] = str(folder / "onnx")
    else:
        cmd += ["--driving", str(videos[n])]
    if dump is not None:
        cmd += ["--dump", str(dump)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    print(f"  {label:18s} {n:4d} frames ...", end="", flush=True, file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"\n{label} worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["fps"] = result["frames"] / result["seconds"] if result["frames"] else 0.0
    gpu = f", {result['peak_gpu_mb']:.0f} MiB GPU" if "peak_gpu_mb" in result else ""
    print(f" {result['seconds']:.1f} s, {result['fps']:.2f} fps, {result['peak_rss_mb']:.0f} MiB{gpu}", file=sys.stderr)
    return result


def difference(a: Path, b: Path) -> tuple[float, float]:
    """Max abs difference and PSNR (dB, frames in [0, 1]) of two dumps of float frames."""
    x, y = np.fromfile(a, np.float32), np.fromfile(b, np.float32)
    if x.shape != y.shape:
        raise SystemExit(f"the two runs produced different frame counts ({x.size} vs {y.size} values)")
    mse = float(np.mean((x.astype(np.float64) - y) ** 2))
    return float(np.abs(x - y).max()), (10 * np.log10(1 / mse) if mse > 0 else float("inf"))


def check_device(parser: argparse.ArgumentParser, name: str) -> str:
    """``--device`` checked here, before any worker starts (:func:`fomm.api.select_device`'s checks): ``cpu``,
    or a CUDA GPU that exists."""
    from fomm.api import select_device

    try:
        device = select_device(name)
    except RuntimeError as exc:  # unavailable, missing or misspelt device
        parser.error(f"--device {name}: {str(exc).splitlines()[0]}")
    if device.type not in ("cpu", "cuda"):
        parser.error(f"--device: expected cpu, cuda or cuda:N, got {name!r}")
    return str(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", default="60,600", help="driving video lengths (comma-separated)")
    parser.add_argument("--naive-frames", type=int, default=60,
                        help="run the naive loop only on clips up to this many frames (it is slow and holds the "
                             "whole video in memory)")
    parser.add_argument("--quick", action="store_true", help="8- and 24-frame clips, naive on 8")
    parser.add_argument("--variants",
                        help=f"variants of ours, comma-separated, from {', '.join(VARIANTS)} (fp32 always runs; "
                             "default fp32,bf16,onnxruntime on the CPU, fp32,bf16,fp16 on CUDA)")
    parser.add_argument("--emulated-frames", type=int, default=8,
                        help="clip length for precisions the device only emulates (accuracy only)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, or a CUDA GPU (cuda, cuda:1) for both loops; onnxruntime and compiled: CPU only")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration, interleaved; the fastest kept")
    parser.add_argument("--config", default="vox-256")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=("naive", "ours", "export"), help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="fp32", choices=VARIANTS, help=argparse.SUPPRESS)
    for hidden in ("--driving", "--source", "--output", "--dump", "--model"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    if args.quick:
        args.frames, args.naive_frames = "8,24", 8
    from fomm.precision import fast_precisions

    device = check_device(parser, args.device)
    if args.variants is None:
        args.variants = "fp32,bf16,onnxruntime" if device == "cpu" else "fp32,bf16,fp16"
    variants = ["fp32"] + [v for v in args.variants.split(",") if v and v != "fp32"]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    cpu_only = [v for v in variants if v in ("onnxruntime", "compiled")]
    if cpu_only and device != "cpu":
        parser.error(f"variants {', '.join(cpu_only)} run on the CPU only; leave them out with --device {device}")
    native = fast_precisions(device)
    emulated = [v for v in variants if v in ("bf16", "fp16") and v not in native]
    counts = sorted({int(n) for n in args.frames.split(",")})
    if emulated:
        counts = sorted(set(counts) | {args.emulated_frames})
    with tempfile.TemporaryDirectory(prefix="fomm-bench-") as tmp:
        folder = Path(tmp)
        print(f"making driving videos of {counts} frames in {folder}", file=sys.stderr)
        videos = make_media(folder, counts)
        export_seconds = None
        if "onnxruntime" in variants:
            export_seconds = spawn("export", 0, videos, folder, args)["seconds"]
        rows = []
        for n in counts:
            dumped = n <= args.naive_frames or n == args.emulated_frames
            plan = [("naive", "fp32")] if n <= args.naive_frames else []
            if emulated and n == args.emulated_frames:
                plan += [("ours", v) for v in variants if v == "fp32" or v in emulated]
            if n != args.emulated_frames or not emulated or n in {int(c) for c in args.frames.split(",")}:
                plan += [("ours", v) for v in variants if v not in emulated and ("ours", v) not in plan]
            best: dict[tuple[str, str], dict] = {}
            for repeat in range(args.repeat):
                for kind, variant in plan:
                    dump = folder / f"{kind}-{variant}-{n}.f32" if dumped and repeat == 0 else None
                    result = spawn(kind, n, videos, folder, args, dump, variant)
                    if (kind, variant) not in best or result["fps"] > best[(kind, variant)]["fps"]:
                        best[(kind, variant)] = result
            for kind, variant in plan:
                diff = None
                if dumped and (kind, variant) != ("ours", "fp32"):
                    diff = difference(folder / f"{kind}-{variant}-{n}.f32", folder / f"ours-fp32-{n}.f32")
                rows.append({"frames": n, "kind": kind, "variant": variant, "result": best[(kind, variant)],
                             "naive": best.get(("naive", "fp32")), "diff": diff, "emulated": variant in emulated})
    print_table(rows, args, export_seconds)


def print_table(rows, args, export_seconds) -> None:
    import torch

    from fomm.precision import cpu_features

    cuda = torch.device(args.device).type == "cuda"
    print(f"\nCPU: {cpu_features().describe()}")
    if cuda:
        tf32 = "on" if torch.backends.cudnn.allow_tf32 else "off"  # PyTorch's default: on (fp32 convolutions)
        print(f"GPU: {torch.cuda.get_device_name(args.device)} ({args.device}, CUDA {torch.version.cuda}, cuDNN TF32 "
              f"{tf32})")
    print(f"{args.config} architecture (random weights), {SIZE} px, {args.threads} threads, batch size "
          f"{args.batch_size}, torch {torch.__version__}, best of {args.repeat}")
    print(f"{'frames':>6} | {'variant':<17} | {'fps':>6} | {'ratio':>5} | {'steady fps':>10} | {'max abs diff':>12} | "
          f"{'PSNR dB':>7} | {'peak RSS':>9}" + (f" | {'peak GPU':>9}" if cuda else ""))
    print("-" * (95 + 12 * cuda))
    for row in rows:
        result, naive = row["result"], row["naive"]
        name = "naive loop" if row["kind"] == "naive" else row["variant"] + (" (emulated)" if row["emulated"] else "")
        ratio = f"{result['fps'] / naive['fps']:5.2f}" if naive else f"{'-':>5}"
        diff, psnr = f"{'-':>12}", f"{'-':>7}"
        if row["diff"]:
            diff, psnr = f"{row['diff'][0]:12.2e}", f"{row['diff'][1]:7.1f}"
        steady = f"{result['steady_fps']:10.3f}" if result.get("steady_fps") else f"{'-':>10}"
        gpu = f" | {result['peak_gpu_mb']:5.0f} MiB" if cuda else ""
        print(f"{row['frames']:6d} | {name:<17} | {result['fps']:6.3f} | {ratio} | {steady} | {diff} | {psnr} | "
              f"{result['peak_rss_mb']:5.0f} MiB{gpu}")
    print("fps: whole process (setup, compile, encoding); steady fps: after the first batch; differences against "
          "ours fp32 on the same clip; ratio against the naive loop on the same clip")
    for row in rows:
        if row["result"].get("compile_seconds"):
            print(f"compiled, {row['frames']} frames: {row['result']['compile_seconds']:.1f} s in the calls that "
                  "compiled (compile plus the first batch), once per process")
    if export_seconds is not None:
        print(f"onnx export (fomm export): {export_seconds:.1f} s, once per model")
    for variant in sorted({r["variant"] for r in rows if r["kind"] == "ours"}):
        mem = [(r["frames"], r["result"]["peak_rss_mb"]) for r in rows
               if r["kind"] == "ours" and r["variant"] == variant]
        if len(mem) > 1:
            print(f"ours {variant} peak RSS, {mem[-1][0]} vs {mem[0][0]} frames: {mem[-1][1] / mem[0][1] - 1:+.1%}")


if __name__ == "__main__":
    main()
