"""``fomm keypoints IMAGE|VIDEO``: the model's keypoints per frame, in pixels of the input, as CSV or
JSON, and optionally drawn over the input.

Coordinates are pixels of the original frame (not of the model's square crop): integer x is the
center of pixel column x, so a frame W pixels wide spans -0.5 .. W - 0.5. Keypoints outside the part
of the frame the model saw (``--fit crop``) or in the padding (``--fit pad``) can fall outside it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.image import write_image
from ..io.outputs import check_file_output, check_output_name
from ..io.paths import IMAGE_EXTENSIONS, atomic_path, is_image_path
from .common import CLIError, add_model_arguments, add_precision_argument, load_model_from_args, summary, user_errors

if TYPE_CHECKING:
    import numpy as np

    from ..animation.animator import FrameKeypoints

FORMATS = (".csv", ".json")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "keypoints", help="export (and draw) the keypoints of an image or video",
        description="Detect the model's keypoints in every frame of INPUT and write them in pixel coordinates of "
                    "INPUT (integer x = center of pixel column x): CSV rows 'frame,kp,x,y' or JSON.")
    p.add_argument("input", help="still image, video, or a folder of frames")
    p.add_argument("-o", "--output", metavar="OUT.csv|OUT.json",
                   help="where to write the coordinates; default (or -): CSV on standard output")
    p.add_argument("--overlay", metavar="PATH",
                   help="also draw the keypoints over the input: an image path for an image input, a video "
                        "(.mp4, .gif, or a folder) for a video")
    add_model_arguments(p)
    add_precision_argument(p)
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..animation.animator import detect_keypoints
    from ..io import VideoReader, read_image

    inputs = (args.input, args.checkpoint)
    try:
        # The pipeline unwinds in reverse: the decode thread is joined, then the outputs are published
        # (or discarded on an error or Ctrl-C), then the reader closes.
        with user_errors(), contextlib.ExitStack() as pipeline:
            _check_output(args, inputs)
            still = Path(args.input).is_file() and is_image_path(args.input)
            image = read_image(args.input) if still else None
            if still:
                frames, reader, fps = [image], None, None
            else:
                reader = pipeline.enter_context(VideoReader(args.input))  # fails now on a missing or unreadable input
                frames, fps = reader, reader.fps
            overlay = _open_overlay(args, still, fps, inputs)
            if overlay is not None:
                pipeline.enter_context(overlay)
            text = sys.stdout
            if args.output:
                text = pipeline.enter_context(open(pipeline.enter_context(atomic_path(Path(args.output))), "w",
                                                   newline=""))
            model = load_model_from_args(args, image=image)
            start = time.perf_counter()
            results = pipeline.enter_context(closing(detect_keypoints(
                model, frames, size=args.size, fit=args.fit, batch_size=args.batch_size,
                keep_frames=overlay is not None, precision=args.precision)))
            total = 1 if still else reader.num_frames
            # MRAA's 2x2 matrices are its regions' affines, in the place of FOMM's jacobians.
            matrices = "affines" if getattr(model, "family", "fomm") == "mraa" else "jacobians"
            count = _write(args, tqdm(results, total=total, unit="frame", desc="keypoints", disable=still), text,
                           overlay, matrices)
            seconds = time.perf_counter() - start
    except BrokenPipeError:  # standard output closed early (``| head``): not an error; the overlay is discarded
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (keeps Python from failing again at exit)
        return 0
    if reader is not None and reader.truncated:
        print(f"fomm keypoints: warning: {args.input} is truncated or damaged: used the {count} frames that "
              "decode", file=sys.stderr)
    if args.output:
        print(summary(count, seconds, args.output))
    return 0


def _check_output(args: argparse.Namespace, inputs: tuple) -> None:
    if args.output in (None, "-"):  # standard output: the CSV rows
        args.output = None
        return
    check_output_name(args.output, "-o")
    suffix = Path(args.output).suffix.lower()
    if suffix not in FORMATS:
        raise CLIError(f"cannot write keypoints to {args.output}: unsupported extension {suffix or '(none)'}; use "
                       ".csv or .json")
    check_file_output(args.output, overwrite=args.overwrite, inputs=inputs, option="-o")


class _ImageOverlay:
    """An image written atomically (temporary file, then rename) when the block ends without error."""

    def __init__(self, path: str, overwrite: bool, inputs: tuple):
        self.path = Path(path)
        if self.path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise CLIError(f"--overlay {path}: the input is an image, so the overlay must be one too "
                           f"({', '.join(IMAGE_EXTENSIONS)})")
        check_file_output(self.path, overwrite=overwrite, inputs=inputs, option="--overlay")
        self.image: np.ndarray | None = None

    def write(self, frame: np.ndarray) -> None:
        self.image = frame

    def __enter__(self) -> _ImageOverlay:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.image is not None:
            write_image(self.path, self.image)


def _open_overlay(args: argparse.Namespace, still: bool, fps: float | None, inputs: tuple):
    if args.overlay is None:
        return None
    check_output_name(args.overlay, "--overlay")
    if still:
        return _ImageOverlay(args.overlay, args.overwrite, inputs)
    if is_image_path(args.overlay):
        raise CLIError(f"--overlay {args.overlay}: the input is a video, so the overlay must be one too "
                       "(.mp4, .gif, or a folder)")
    from ..io import VideoWriter

    return VideoWriter(args.overlay, fps=fps, overwrite=args.overwrite, inputs=inputs)


def _write(args: argparse.Namespace, results, text, overlay, matrices: str = "jacobians") -> int:
    """Stream the coordinates (and the overlay) as they come. The header's ``num_kp`` is the first
    frame's number of points (keypoints, control points or regions, whatever the model's family)."""
    import itertools

    from ..io import draw_keypoints

    count = 0
    as_json = bool(args.output) and Path(args.output).suffix.lower() == ".json"
    results = iter(results)
    first = next(results, None)
    results = itertools.chain([] if first is None else [first], results)
    num_kp = 0 if first is None else len(first.pixels)
    if as_json:  # one frame per line, so that long videos stay readable and stream out
        header = {"input": str(args.input), "num_kp": num_kp, "fit": args.fit,
                  "coordinates": "pixels of the input frame; integer x is the center of pixel column x"}
        text.write(json.dumps(header)[:-1] + ', "frames": [\n')
    else:
        rows = csv.writer(text)
        rows.writerow(["frame", "kp", "x", "y"])
    for item in results:
        if as_json:
            text.write((",\n" if count else "") + json.dumps(_frame_json(item, matrices)))
        else:
            for k, (x, y) in enumerate(item.pixels):
                rows.writerow([item.index, k, f"{x:.3f}", f"{y:.3f}"])
        if overlay is not None:
            overlay.write(draw_keypoints(item.frame, item.pixels))
        count += 1
    if as_json:
        text.write("\n]}\n")
    return count


def _frame_json(item: FrameKeypoints, matrices: str = "jacobians") -> dict:
    import numpy as np

    out = {"frame": item.index, "width": item.shape[1], "height": item.shape[0],
           "keypoints": [[round(float(x), 3), round(float(y), 3)] for x, y in item.pixels]}
    if item.jacobian is not None:
        out[matrices] = np.round(item.jacobian.astype(np.float64), 5).tolist()
    return out
