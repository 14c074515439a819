"""``fomm animate SOURCE DRIVING -o OUT``: animate a still image with the motion of a driving video.

Everything that can be checked cheaply (the output path, the source image, the driving video and
the options) is checked before the model is loaded, so a typo fails in a second with one line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .animate_crop import add_crop_arguments, run_cropped, wants_crop
from .common import (
    CLIError,
    add_model_arguments,
    add_speed_arguments,
    model_from_speed_args,
    speed_options,
    steady_memory,
    summary,
    user_errors,
)

if TYPE_CHECKING:
    from ..animation import Animator
    from ..io import VideoReader, VideoWriter

# fomm.animation.LAYOUTS, spelt out so that building the parser loads no torch/PyAV code (a test keeps them equal)
LAYOUTS = ("result", "side-by-side")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "animate", help="animate a source image with a driving video",
        description="Animate SOURCE (a still image) with the motion of DRIVING (a video or a folder of frames). "
                    "The output keeps the driving video's frame rate, duration and audio.")
    p.add_argument("source", help="still image (png, jpg, webp, bmp)")
    p.add_argument("driving", help="video (mp4, mov, avi, mkv, webm, gif) or a folder of frames")
    p.add_argument("-o", "--output", required=True,
                   help="output video: .mp4/.mov/.mkv (H.264), .gif, or a folder of PNG frames (no extension)")
    add_model_arguments(p)
    p.add_argument("--mode", choices=("relative", "absolute"), default="relative",
                   help="relative (default): transfer the driving motion relative to its initial frame onto the "
                        "source pose; absolute: use the driving keypoints as they are (source and driving must "
                        "be aligned alike)")
    p.add_argument("--adapt-scale", action="store_true",
                   help="scale relative motion by the size ratio of source and driving keypoints")
    p.add_argument("--best-frame", type=_best_frame, metavar="auto|N",
                   help="start relative motion from driving frame N, or from the frame whose pose best matches "
                        "the source ('auto'; reads the driving video twice)")
    p.add_argument("--audio", action=argparse.BooleanOptionalAction, default=None,
                   help="copy the driving video's audio (default: when it has some and the output can carry it)")
    p.add_argument("--layout", choices=LAYOUTS, default="result",
                   help="result (default) or side-by-side: source | driving | result")
    p.add_argument("--keypoints", action="store_true", help="draw the keypoints on the frames")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    add_crop_arguments(p)
    add_speed_arguments(p)
    p.set_defaults(func=run)


def _best_frame(text: str) -> str | int:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a frame index, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"frame index must be >= 0, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..animation import Animator, compose
    from ..io import BackgroundWriter, VideoReader, read_image

    if args.mode == "absolute" and args.adapt_scale:
        raise CLIError("--adapt-scale scales relative motion; it does nothing with --mode absolute")
    if args.mode == "absolute" and args.best_frame is not None:
        raise CLIError("--best-frame picks the reference frame of relative motion; it does nothing with --mode "
                       "absolute")
    if wants_crop(args):
        return run_cropped(args, _open_writer)
    # One ExitStack owns the pipeline, entered in its order: reader, writer, encode thread, decode thread.
    # It unwinds in the reverse order on success, on error and on Ctrl-C: each thread is joined before
    # the container it uses is closed, and the writer discards its partial output unless all went well.
    with user_errors(), contextlib.ExitStack() as pipeline:
        source = read_image(args.source)
        reader = pipeline.enter_context(VideoReader(args.driving))  # fails now on an image, a missing file, ...
        writer = pipeline.enter_context(_open_writer(args, reader))  # checks the output path before any work
        steady_memory()
        model = model_from_speed_args(args, image=source)
        animator = Animator(model, source, mode=args.mode, adapt_scale=args.adapt_scale, size=args.size,
                            fit=args.fit, batch_size=args.batch_size, **speed_options(args))
        start = time.perf_counter()
        initial = _initial_keypoints(args, animator, reader)
        background = pipeline.enter_context(BackgroundWriter(writer))
        stream = pipeline.enter_context(contextlib.closing(animator.stream(reader, initial)))
        frames = 0
        for frame in tqdm(stream, total=reader.num_frames, unit="frame", desc="animate"):
            background.write(compose(animator, frame, args.layout, args.keypoints))
            frames += 1
    seconds = time.perf_counter() - start
    if reader.truncated:
        print(f"fomm animate: warning: {args.driving} is truncated or damaged: animated the {frames} frames that "
              "decode", file=sys.stderr)
    print(summary(frames, seconds, args.output))
    return 0


def _open_writer(args: argparse.Namespace, reader: VideoReader) -> VideoWriter:
    """The writer checks the output path (extension, existing file, inputs) before any work is done."""
    from ..io import VideoWriter
    from ..io.writer import H264_SUFFIXES

    carries_sound = Path(args.output).suffix.lower() in H264_SUFFIXES
    if args.audio and not carries_sound:
        raise CLIError(f"--audio: {args.output} cannot carry sound; write an .mp4/.mov/.mkv or pass --no-audio")
    if args.audio and not reader.has_audio:
        raise CLIError(f"--audio: {args.driving} has no audio track; drop --audio")
    audio = args.audio is not False and carries_sound and reader.has_audio
    return VideoWriter(args.output, fps=reader.fps, audio_from=args.driving if audio else None,
                       overwrite=args.overwrite, inputs=(args.source, args.driving, args.checkpoint))


def _initial_keypoints(args: argparse.Namespace, animator: Animator, reader: VideoReader):
    """Relative motion's reference keypoints for --best-frame (a first pass over the driving video)."""
    from tqdm import tqdm

    if args.best_frame == "auto":
        frames = tqdm(reader, total=reader.num_frames, unit="frame", desc="best frame", leave=False)
        best = animator.find_best_frame(frames)
        tqdm.write(f"starting from frame {best.index} (pose distance {best.distance:.3f})", file=sys.stderr)
        return best.keypoints
    if args.best_frame is not None:
        return animator.keypoints_at(reader, args.best_frame)
    return None
