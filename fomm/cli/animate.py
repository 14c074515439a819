"""``fomm animate SOURCE DRIVING -o OUT``: animate a still image with the motion of a driving video.

Everything that can be checked cheaply (the output path, the source image, the driving video and
the options) is checked before the model is loaded, so a typo fails in a second with one line.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..animation.animator import AnimatedFrame, Animator, BackgroundWriter, keypoints_to_pixels
from ..api import DEFAULT_MODEL, load_model
from ..io import VideoReader, VideoWriter, draw_keypoints, read_image
from ..io.writer import H264_SUFFIXES
from ..model import FOMM
from .common import CLIError, device_from_arg, positive_int, summary, user_errors

LAYOUTS = ("result", "side-by-side")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The options that choose and place the model (shared with ``fomm keypoints``)."""
    p.add_argument("--checkpoint", default=DEFAULT_MODEL, metavar="PATH",
                   help="checkpoint file (.pth.tar, .pth, .safetensors) or a preset name; default: the bundled "
                        "model")
    p.add_argument("--config", metavar="NAME|PATH",
                   help="config preset or YAML; default: the one stored in (or inferred from) the checkpoint")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps; default: CUDA, then MPS, then CPU")
    p.add_argument("--align-corners", action=argparse.BooleanOptionalAction, default=None,
                   help="grid_sample semantics; default from the config (on: as the published checkpoints "
                        "were trained; off: what the original code does on PyTorch >= 1.3)")
    p.add_argument("--size", type=positive_int, metavar="PX",
                   help="square frame size the networks run at; default: the model's training size "
                        "(dataset_params.frame_shape of its config, 256 when the checkpoint says nothing)")
    p.add_argument("--fit", choices=("crop", "pad"), default="crop",
                   help="make non-square frames square by cropping the center (default) or padding with black")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="frames per forward pass (default: 16 on a GPU, 4 on the CPU)")


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


def load_model_from_args(args: argparse.Namespace) -> FOMM:
    device = device_from_arg(args.device)
    return load_model(args.checkpoint, config=args.config, device=device, align_corners=args.align_corners)


M_MMAP_THRESHOLD = -3  # mallopt parameter, from glibc's malloc.h


def steady_memory() -> None:
    """Keep peak memory flat over long videos and allocation cheap (glibc only; a no-op elsewhere).

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so over thousands
    of frames tensors of a few MiB move from fresh mappings to heap arenas that fragment, and the peak
    creeps up (+14% from 60 to 600 frames at 256 px). A fixed threshold above every tensor of a batch
    (256 MiB) keeps them all in the heap from the first batch on: each batch reuses the blocks the
    previous one freed, so the peak stays flat, and no page is faulted in again (measured 10-15% faster
    than small fixed thresholds, which map and zero every large tensor each time).
    This is a process-wide setting, so the command line makes it, never the library.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc
        pass


def run(args: argparse.Namespace) -> int:
    if args.mode == "absolute" and args.adapt_scale:
        raise CLIError("--adapt-scale scales relative motion; it does nothing with --mode absolute")
    if args.mode == "absolute" and args.best_frame is not None:
        raise CLIError("--best-frame picks the reference frame of relative motion; it does nothing with --mode "
                       "absolute")
    with user_errors():
        source = read_image(args.source)
        reader = VideoReader(args.driving)  # fails now on an image, a missing file or no decodable frames
        try:
            writer = _open_writer(args, reader)
            steady_memory()
            model = load_model_from_args(args)
            animator = Animator(model, source, mode=args.mode, adapt_scale=args.adapt_scale, size=args.size,
                                fit=args.fit, batch_size=args.batch_size)
            start = time.perf_counter()
            frames = _animate(args, animator, reader, writer)
            seconds = time.perf_counter() - start
        finally:
            reader.close()
    if reader.truncated:
        print(f"fomm animate: warning: {args.driving} is truncated or damaged: animated the {frames} frames that "
              "decode", file=sys.stderr)
    print(summary(frames, seconds, args.output))
    return 0


def _open_writer(args: argparse.Namespace, reader: VideoReader) -> VideoWriter:
    """The writer checks the output path (extension, existing file) before any work is done."""
    carries_sound = Path(args.output).suffix.lower() in H264_SUFFIXES
    if args.audio and not carries_sound:
        raise CLIError(f"--audio: {args.output} cannot carry sound; write an .mp4/.mov/.mkv or pass --no-audio")
    if args.audio and not reader.has_audio:
        raise CLIError(f"--audio: {args.driving} has no audio track; drop --audio")
    audio = args.audio is not False and carries_sound and reader.has_audio
    return VideoWriter(args.output, fps=reader.fps, audio_from=args.driving if audio else None,
                       overwrite=args.overwrite)


def _animate(args: argparse.Namespace, animator: Animator, reader: VideoReader, writer: VideoWriter) -> int:
    initial = None
    if args.best_frame == "auto":
        frames = tqdm(reader, total=reader.num_frames, unit="frame", desc="best frame", leave=False)
        best = animator.find_best_frame(frames)
        tqdm.write(f"starting from frame {best.index} (pose distance {best.distance:.3f})", file=sys.stderr)
        initial = best.keypoints
    elif args.best_frame is not None:
        initial = animator.keypoints_at(reader, args.best_frame)
    count = 0
    with writer, BackgroundWriter(writer) as background:
        stream = animator.stream(reader, initial)
        for frame in tqdm(stream, total=reader.num_frames, unit="frame", desc="animate"):
            background.write(compose(animator, frame, args.layout, args.keypoints))
            count += 1
    return count


def compose(animator: Animator, frame: AnimatedFrame, layout: str = "result", keypoints: bool = False) -> np.ndarray:
    """The output frame: the result, or source | driving | result; with the keypoints drawn if asked
    (the source's, the driving frame's, and on the result the keypoints it was generated with)."""
    size = animator.size

    def dots(image: np.ndarray, kp: np.ndarray) -> np.ndarray:
        return draw_keypoints(image, keypoints_to_pixels(kp, (size, size), size)) if keypoints else image

    result = dots(frame.image, frame.kp_used)
    if layout == "result":
        return result
    return np.concatenate([dots(animator.source_frame, animator.kp_source_array),
                           dots(frame.driving, frame.kp_driving), result], axis=1)
