"""``fomm reconstruct``: the paper's reconstruction evaluation of a checkpoint on a dataset split, on the
batch engine (:mod:`fomm.batch.reconstruct`): several worker processes, shards, resume."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .batch import EXIT_SOME_FAILED
from .common import (
    CLIError,
    add_precision_argument,
    announce_model,
    device_from_arg,
    non_negative_int,
    positive_int,
    summary,
    user_errors,
)

HELP = "score a checkpoint by reconstructing test videos from their first frame (L1, PSNR, SSIM)"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reconstruct", help=HELP, description=HELP + ". Each video's first frame is animated with the video's "
        "own motion and compared with the real frames; 'repeat the first frame' is scored alongside as a baseline. "
        "Synthetic data (fomm synth) adds AKD/MKR, the keypoint distance and missing-part rate.")
    parser.add_argument("--checkpoint", default="default", help="checkpoint file (.pth.tar, .pth, .safetensors) "
                        "or a model name; default: the bundled model")
    parser.add_argument("--config", help="config preset or YAML (default: the one stored with the checkpoint)")
    parser.add_argument("--data", required=True, type=Path, help="dataset root holding train/ and test/")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="which split (default: test)")
    parser.add_argument("--out", type=Path, help="folder for metrics.json (and the videos with --save-videos)")
    parser.add_argument("--save-videos", nargs="?", const="side-by-side", choices=("side-by-side", "prediction"),
                        help="also write each reconstruction to OUT/videos/: real | generated side by side "
                        "(default) or the generated frames only")
    parser.add_argument("--max-videos", type=positive_int, metavar="N", help="evaluate only the first N videos")
    parser.add_argument("--batch-size", type=positive_int, default=16,
                        help="driving frames per forward pass (default: 16)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto (default)")
    add_precision_argument(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of an earlier run in OUT (metrics.json and videos/) and score every "
                        "video again")
    runs = parser.add_argument_group("workers, shards and resume (the engine of fomm batch)")
    runs.add_argument("--workers", type=non_negative_int, metavar="N",
                      help="worker processes, each holding the model (default: one per CPU core, two per GPU; 0: "
                      "in this process). Each video's scores go to OUT/per-video/, so rerunning the same command "
                      "after an interruption scores only the videos left")
    runs.add_argument("--shard", metavar="I/N", help="score the videos whose index is I modulo N (default: from "
                      "RANK/WORLD_SIZE under torchrun or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT); metrics.json "
                      "is written by the run that finds every video scored")
    runs.add_argument("--retry-failed", action="store_true", help="score again the videos that failed before")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..api import load_model
    from ..batch.reconstruct import reconstruct_dataset
    from ..evaluation.reconstruct import check_outputs
    from .common import steady_memory

    if args.save_videos and args.out is None:
        raise CLIError("--save-videos needs --out DIR")
    with user_errors():
        if args.out is not None:  # before any work
            check_outputs(args.out, save_videos=args.save_videos, overwrite=args.overwrite,
                          inputs=(args.data, args.checkpoint))
        model = load_model(args.checkpoint, config=args.config, device=device_from_arg(args.device))
        announce_model(args, model.config)
        with tqdm(unit="frame", desc="reconstruct", leave=False, dynamic_ncols=True) as bar:
            def progress(done: int, total: int, record) -> None:
                if record.status == "error":
                    tqdm.write(f"fomm reconstruct: {record.driving}: {record.message}", file=sys.stderr)
                bar.total = total
                bar.update(done - bar.n)

            run = reconstruct_dataset(model, args.data, args.out, checkpoint=args.checkpoint, config=args.config,
                                      split=args.split, batch_size=args.batch_size, max_videos=args.max_videos,
                                      save_videos=args.save_videos, precision=args.precision, workers=args.workers,
                                      device=args.device, shard=args.shard, retry_failed=args.retry_failed,
                                      overwrite=args.overwrite, progress=progress, initializer=steady_memory)
    result, batch = run.result, run.batch
    if result is None:
        earlier = f" ({batch.failed_before} in earlier runs)" if batch.failed_before else ""
        print(f"{batch.done} videos scored, {batch.skipped} already, {batch.failed} failed{earlier}; {run.scored} of "
              f"{run.total} have scores: metrics.json is written once all do (rerun this command, with "
              "--retry-failed for the failed ones, or run the other shards)")
        return EXIT_SOME_FAILED if batch.failed else 0
    print(result.table())
    print(result.summary())
    print(summary(result.num_frames, result.seconds, result.metrics_path or "(no --out: nothing written)"))
    return EXIT_SOME_FAILED if batch.failed else 0
