"""``fomm demo``: the bundled model animates the bundled source with the bundled driving clip."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from ..io.outputs import check_file_output
from .common import TqdmProgress, add_precision_argument, device_from_arg, summary, user_errors

DISPLAY_SCALE = 4  # the bundled model runs at 64x64; frames are enlarged for viewing


def asset(name: str) -> Path:
    return Path(str(resources.files("fomm") / "assets" / name))


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="animate the bundled example with the bundled model (works offline)",
                       description="Animate the bundled source image with the bundled driving clip using the "
                       "bundled model (trained by us on `fomm synth` data). Writes demo.mp4 (source | driving "
                       "| result) and demo-keypoints.png (one frame with the keypoints drawn).")
    p.add_argument("-o", "--out", default=".", help="folder for demo.mp4 and demo-keypoints.png (default: .)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps; default: CUDA, then MPS, then CPU")
    p.add_argument("--overwrite", action="store_true", help="replace existing demo outputs")
    add_precision_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..api import DEFAULT_MODEL, load_model
    from ..io import VideoReader, write_image
    from ..pipeline import AnimationOptions, Output, animate_file
    from ..precision import resolve_precision

    out = Path(args.out)
    video_path, still_path = out / "demo.mp4", out / "demo-keypoints.png"
    with user_errors():
        for path in (video_path, still_path):
            check_file_output(path, overwrite=args.overwrite)
    device = device_from_arg(args.device)
    with user_errors():
        resolve_precision(args.precision, device)  # refused before any file is opened
        options = AnimationOptions(precision=args.precision, layout="side-by-side")
        with VideoReader(asset("driving.mp4")) as reader:
            middle = (reader.num_frames or 1) // 2
        with TqdmProgress("demo") as progress:
            result = animate_file(lambda: load_model(DEFAULT_MODEL, device=device), asset("source.png"),
                                  asset("driving.mp4"), Output(video_path, scale=DISPLAY_SCALE), options,
                                  progress=progress, overwrite=args.overwrite,
                                  still=(middle, Output(still_path, keypoints=True, scale=DISPLAY_SCALE)))
    with user_errors():
        write_image(still_path, result.still)
    print(summary(result.frames, result.seconds, video_path))
    print(f"keypoints: {still_path}")
    return 0
