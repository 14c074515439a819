"""``fomm synth OUT``: a synthetic motion dataset in the training layout, with part tracks."""

from __future__ import annotations

import argparse
import time

from .common import check_stopped, frame_size, non_negative_float, positive_int, summary, user_errors


def add_parser(sub) -> None:
    p = sub.add_parser(
        "synth", help="generate a synthetic motion dataset (train/ and test/, with ground-truth tracks)",
        description="Write short videos of articulated colored figures in the training layout "
        "(OUT/train, OUT/test; one folder of PNG frames per video and <video>.tracks.json beside it). "
        "Deterministic from --seed.")
    p.add_argument("out", help="output folder")
    p.add_argument("--videos", type=positive_int, default=200, help="number of videos (default 200)")
    p.add_argument("--frames", type=positive_int, default=32, help="frames per video (default 32)")
    p.add_argument("--size", type=frame_size, default=64, help="frame size in pixels (default 64)")
    p.add_argument("--parts", type=int, default=5, help="parts per figure, 1..6 (default 5)")
    p.add_argument("--limb-swing", type=non_negative_float, default=1.0, metavar="X",
                   help="multiply the limbs' swing about their joints (default 1: 20-40 degrees; 2: 40-80): "
                        "more articulation relative to the body")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of videos in test/ (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT if an earlier fomm synth wrote it (never another folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..data.synthetic import SyntheticConfig, check_dataset_out, make_synthetic_dataset

    start = time.perf_counter()
    with user_errors():
        check_dataset_out(args.out, args.overwrite)  # before the progress bar shows
        SyntheticConfig(size=args.size, num_frames=args.frames, num_parts=args.parts,  # checks the settings
                        limb_swing=args.limb_swing)
        with tqdm(total=args.videos, unit="video", desc="synth") as bar:
            result = make_synthetic_dataset(
                args.out, args.videos, num_frames=args.frames, size=args.size, seed=args.seed,
                test_fraction=args.test_fraction, num_parts=args.parts, limb_swing=args.limb_swing,
                overwrite=args.overwrite, on_video=lambda _i: (check_stopped(), bar.update(1)))
    frames = args.videos * args.frames
    print(f"{len(result.train_videos)} train + {len(result.test_videos)} test videos, "
          + summary(frames, time.perf_counter() - start, result.root))
    return 0
