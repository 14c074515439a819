"""``fomm batch MANIFEST -o OUT_DIR``: animate many (source, driving) pairs, resumably, on several workers.

A thin layer over :func:`fomm.batch.run`: the options given here are the defaults of every row (a
row's own columns win), a progress bar counts the rows, and the exit code says whether all succeeded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .animate import CODEC_DEVICE_HELP
from .common import CLIError, device_from_arg, non_negative_float, non_negative_int, positive_int, user_errors

EXIT_SOME_FAILED = 3  # every row ran or was skipped, but some failed (2 is a command-line error)
HELP = "animate many source/driving pairs from a manifest, resumably, on several workers"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "batch", help=HELP,
        description="Animate every row of MANIFEST (CSV with a header, or JSONL: source, driving, optional output "
                    "and per-row options such as mode, crop, paste-back, checkpoint) into OUT_DIR. Rerunning the "
                    "same command resumes: finished outputs are skipped, failed rows are left alone unless "
                    "--retry-failed. Every row's result goes to OUT_DIR/batch-status.jsonl. Exit code 0 when "
                    f"every row has its output, {EXIT_SOME_FAILED} when some failed.")
    p.add_argument("manifest", nargs="?", help="CSV or JSONL; also the original pairs_list CSV of a dataset "
                   "(with --root set to its test folder)")
    p.add_argument("-o", "--out-dir", required=True, type=Path, help="folder for the outputs and the status file")
    p.add_argument("--root", type=Path, help="where relative source/driving paths start (default: the manifest's "
                   "folder)")
    pairs = p.add_argument_group("pairs of a dataset (instead of a manifest)")
    pairs.add_argument("--pairs-from", type=Path, metavar="DATASET_DIR",
                       help="draw the paper's random cross-identity pairs from DATASET_DIR's test videos (each "
                            "source video's first frame animated by another video)")
    pairs.add_argument("--num-pairs", type=positive_int, default=100, metavar="N", help="how many (default: 100)")
    pairs.add_argument("--seed", type=non_negative_int, default=0, metavar="S", help="the draw's seed (default: 0)")
    run_group = p.add_argument_group("workers and launches")
    run_group.add_argument("--workers", type=non_negative_int, metavar="N",
                           help="worker processes, each holding the model (default: one per CPU core, two per GPU; 0: "
                           "in this process)")
    run_group.add_argument("--device", help="cpu, cuda, cuda:1; default: every GPU, else the CPU")
    run_group.add_argument("--shard", metavar="I/N", help="run the rows whose index is I modulo N (default: from "
                           "RANK/WORLD_SIZE under torchrun or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)")
    run_group.add_argument("--ray", metavar="auto|local|ADDRESS", help="run on Ray (needs fomm[ray]): auto joins "
                           "the cluster this machine is in, local starts one here, else a cluster address")
    run_group.add_argument("--retry-failed", action="store_true", help="run again the rows that failed before")
    run_group.add_argument("--overwrite", action="store_true", help="redo every row, replacing existing outputs")
    run_group.add_argument("--status", type=Path, metavar="PATH", help="the status file (default: "
                           "OUT_DIR/batch-status.jsonl; a shard's own batch-status.shard-I-of-N.jsonl)")
    _add_option_defaults(p)
    p.set_defaults(func=run)


def _best_frame(text: str) -> str | int:
    return text if text == "auto" else non_negative_int(text)


def _add_option_defaults(p: argparse.ArgumentParser) -> None:
    """The options of fomm animate, as defaults for every row; only those given are passed on (the rest
    are AnimationOptions' defaults), checked by AnimationOptions alone, before any row runs."""
    g = p.add_argument_group("animation options (the defaults of every row; see fomm animate --help)")
    quiet = {"default": argparse.SUPPRESS}
    g.add_argument("--checkpoint", default="default", metavar="PATH", help="the model of rows that name none "
                   "(default: the bundled model)")
    g.add_argument("--mode", metavar="relative|absolute|avd", **quiet)
    g.add_argument("--adapt-scale", action=argparse.BooleanOptionalAction, **quiet)
    g.add_argument("--best-frame", type=_best_frame, metavar="auto|N", **quiet)
    g.add_argument("--crop", metavar="auto|none|X,Y,W,H", **quiet)
    g.add_argument("--driving-crop", metavar="auto|none|X,Y,W,H", **quiet)
    g.add_argument("--paste-back", action="store_true", **quiet)
    g.add_argument("--faces", metavar="largest|all", **quiet)
    g.add_argument("--target", metavar="face|person", **quiet)
    g.add_argument("--crop-margin", type=non_negative_float, metavar="M", **quiet)
    g.add_argument("--fit", metavar="crop|pad", **quiet)
    g.add_argument("--size", type=positive_int, metavar="PX", **quiet)
    g.add_argument("--batch-size", type=positive_int, metavar="N", **quiet)
    g.add_argument("--precision", metavar="fp32|bf16|fp16|auto", default="auto",
                   help="as fomm animate (default: auto, the fastest the device runs natively)")
    g.add_argument("--compile", action="store_true", **quiet)
    g.add_argument("--layout", metavar="result|side-by-side", **quiet)
    g.add_argument("--keypoints", action="store_true", **quiet)
    g.add_argument("--audio", action=argparse.BooleanOptionalAction, **quiet)
    g.add_argument("--codec-device", metavar="auto|cpu|cuda", help=CODEC_DEVICE_HELP, **quiet)


OPTION_NAMES = ("mode", "adapt_scale", "best_frame", "crop", "driving_crop", "paste_back", "faces", "target",
                "crop_margin", "fit", "size", "batch_size", "precision", "compile", "layout", "keypoints", "audio",
                "codec_device")


def defaults_from_args(args: argparse.Namespace) -> dict:
    """The AnimationOptions fields given on the command line (crops parsed as fomm animate does), checked
    by AnimationOptions once, in the command line's words."""
    from ..animation.options import CLI_WORDS, AnimationOptions, OptionsError
    from ..batch.manifest import typed_options

    values = typed_options({name: getattr(args, name) for name in OPTION_NAMES if hasattr(args, name)})
    try:
        AnimationOptions.from_mapping(values)
    except OptionsError as exc:
        raise CLIError(exc.worded(CLI_WORDS)) from None
    return values


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import batch
    from .common import steady_memory

    if (args.manifest is None) == (args.pairs_from is None):
        raise CLIError("give a MANIFEST or --pairs-from DATASET_DIR (one of them)")
    with user_errors():
        defaults = defaults_from_args(args)
        if args.ray is None:
            device_from_arg(args.device)  # a device this machine lacks: one line, before any row
        bars: list[tqdm] = []  # opened with the first result: a manifest refused at once shows no bar
        frames = [0]

        def progress(update: batch.BatchProgress) -> None:
            if not bars:
                bars.append(tqdm(total=update.total, unit="pair", desc="batch", dynamic_ncols=True))
            record = update.record
            if record.status == "error":
                tqdm.write(f"fomm batch: row {record.row + 1} ({record.output}): {record.message}", file=sys.stderr)
            frames[0] += record.frames if record.status == "ok" else 0
            bars[0].set_postfix_str(f"{frames[0] / max(bars[0].format_dict['elapsed'], 1e-9):.1f} frames/s",
                                    refresh=False)
            bars[0].update(update.done - bars[0].n)

        try:
            summary = batch.run(args.manifest, args.out_dir, defaults=defaults, checkpoint=args.checkpoint,
                                workers=args.workers, device=args.device, shard=args.shard,
                                retry_failed=args.retry_failed, overwrite=args.overwrite, root=args.root,
                                status=args.status, pairs_from=args.pairs_from, num_pairs=args.num_pairs,
                                seed=args.seed, ray=args.ray, progress=progress, initializer=steady_memory)
        finally:
            for bar in bars:
                bar.close()
    print(summary)
    return 0 if summary.ok else EXIT_SOME_FAILED
