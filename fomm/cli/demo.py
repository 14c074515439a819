"""``fomm demo``: the bundled model animates the bundled source with the bundled driving clip."""

from __future__ import annotations

import argparse
import contextlib
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.outputs import check_file_output
from ..io.paths import atomic_path
from .common import add_precision_argument, device_from_arg, summary, user_errors

if TYPE_CHECKING:
    import numpy as np

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


def _enlarge(frame: np.ndarray) -> np.ndarray:
    import numpy as np
    from PIL import Image

    h, w = frame.shape[:2]
    image = Image.fromarray(frame).resize((w * DISPLAY_SCALE, h * DISPLAY_SCALE), Image.Resampling.BICUBIC)
    return np.asarray(image)


def run(args: argparse.Namespace) -> int:
    from PIL import Image
    from tqdm import tqdm

    from ..animation import Animator, compose
    from ..api import DEFAULT_MODEL, load_model
    from ..io import VideoReader, VideoWriter
    from ..precision import resolve_precision

    out = Path(args.out)
    video_path, still_path = out / "demo.mp4", out / "demo-keypoints.png"
    with user_errors():
        for path in (video_path, still_path):
            check_file_output(path, overwrite=args.overwrite)
    device = device_from_arg(args.device)
    with user_errors():
        resolve_precision(args.precision, device)  # refused before any file is opened
    # Unwinds in reverse: the decode thread is joined, the video published (or discarded), the reader closed.
    with user_errors(), contextlib.ExitStack() as pipeline:
        reader = pipeline.enter_context(VideoReader(asset("driving.mp4")))
        writer = pipeline.enter_context(VideoWriter(video_path, fps=reader.fps, overwrite=args.overwrite))
        model = load_model(DEFAULT_MODEL, device=device)
        animator = Animator(model, asset("source.png"), precision=args.precision)
        start = time.perf_counter()
        middle = (reader.num_frames or 1) // 2
        count, still = 0, None
        stream = pipeline.enter_context(contextlib.closing(animator.stream(reader)))
        for frame in tqdm(stream, total=reader.num_frames, unit="frame", desc="demo"):
            writer.write(_enlarge(compose(animator, frame, "side-by-side")))
            if frame.index == middle or still is None:
                still = _enlarge(compose(animator, frame, "side-by-side", keypoints=True))
            count += 1
    with user_errors(), atomic_path(still_path) as tmp:
        Image.fromarray(still).save(tmp, format="PNG")
    print(summary(count, time.perf_counter() - start, video_path))
    print(f"keypoints: {still_path}")
    return 0
