"""``fomm animate SOURCE DRIVING -o OUT``: animate a still image (or a video, frame by frame) with the
motion of a driving video.

Everything that can be checked cheaply (the output path, the source image, the driving video and
the options) is checked before the model is loaded, so a typo fails in a second with one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .animate_crop import add_crop_arguments
from .common import (
    CLIError,
    TqdmProgress,
    add_model_arguments,
    add_speed_arguments,
    announce_compile,
    model_from_speed_args,
    steady_memory,
    summary,
    user_errors,
)

# fomm.animation.LAYOUTS, spelt out so that building the parser loads no torch/PyAV code (a test keeps them equal)
LAYOUTS = ("result", "side-by-side")
CODEC_DEVICE_HELP = ("where video is decoded and H.264 encoded: auto (default: the GPU's NVDEC/NVENC when the "
                     "networks run on CUDA and they open, else the CPU, saying why), cpu, or cuda (an error if "
                     "missing)")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "animate", help="animate a source image with a driving video",
        description="Animate SOURCE (a still image, or a video frame by frame) with the motion of DRIVING (a video "
                    "or a folder of frames). The output keeps the driving video's frame rate, duration and audio.")
    p.add_argument("source", help="still image (png, jpg, webp, bmp), or a video (mp4, mov, ...): the source frame "
                                  "of each driving frame's time is animated with it; the output is as long as the "
                                  "shorter clip, or as the driving video with --loop")
    p.add_argument("driving", help="video (mp4, mov, avi, mkv, webm, gif) or a folder of frames")
    p.add_argument("-o", "--output", required=True,
                   help="output video: .mp4/.mov/.mkv (H.264), .gif, or a folder of PNG frames (no extension)")
    add_model_arguments(p)
    p.add_argument("--mode", metavar="relative|absolute|avd",
                   help="relative (the default of every model family): transfer the driving motion relative to its "
                        "initial frame onto the source pose; absolute: use the driving motion as it is (source and "
                        "driving must be aligned alike); avd: animation via disentanglement, for models with an AVD "
                        "network (TPSMM, MRAA)")
    p.add_argument("--adapt-scale", action=argparse.BooleanOptionalAction, default=None,
                   help="scale relative motion by the size ratio of source and driving keypoints (default: off for "
                        "FOMM, on for TPSMM and MRAA, as their demos do)")
    p.add_argument("--best-frame", type=_best_frame, metavar="auto|N",
                   help="start relative motion from driving frame N, or from the frame whose pose best matches "
                        "the source ('auto'; reads the driving video twice)")
    p.add_argument("--audio", nargs="?", const="driving", choices=AUDIO_CHOICES, default=None, type=_audio_choice,
                   metavar="driving|source|none",
                   help="the output's sound: the driving video's (default, when it has some and the output can carry "
                        "it), a source video's own (played once, also with --loop), or none")
    p.add_argument("--no-audio", dest="audio", action="store_const", const="none", help="same as --audio none")
    p.add_argument("--loop", action="store_true",
                   help="a source video starts again as it ends, so the output lasts as long as the driving video")
    p.add_argument("--layout", choices=LAYOUTS, default="result",
                   help="result (default) or side-by-side: source | driving | result")
    p.add_argument("--keypoints", action="store_true", help="draw the keypoints on the frames")
    p.add_argument("--smooth", metavar="off|auto|FRAMES",
                   help="smooth the driving motion (keypoints, jacobians) and the tracked boxes over time, without "
                        "delay (auto: 2 frames; one more keypoints-only pass over the driving video). Default: off "
                        "(tracked boxes keep a light smoothing)")
    p.add_argument("--codec-device", default="auto", metavar="auto|cpu|cuda", help=CODEC_DEVICE_HELP)
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


AUDIO_CHOICES = ("driving", "source", "none")


def _audio_choice(text: str) -> str:
    """--audio's value; a file name (``fomm animate --audio face.png drive.mp4``: the optional value takes
    the next word) is refused with the two ways to write it, argparse's choices check does the rest."""
    if text not in AUDIO_CHOICES and (Path(text).suffix or os.sep in text or Path(text).exists()):
        raise argparse.ArgumentTypeError(f"{text!r} looks like a file, not driving, source or none: give the value "
                                         "(--audio driving SOURCE DRIVING) or put --audio after the files")
    return text


def _audio(choice: str | None) -> bool | None:
    """--audio [driving|source] -> copy sound (True), --audio none / --no-audio -> False, absent -> None."""
    return None if choice is None else choice != "none"


def options_from_args(args: argparse.Namespace):
    """The :class:`~fomm.animation.options.AnimationOptions` of ``fomm animate``'s flags (checked once,
    there; a bad combination is one line in the command line's words)."""
    from ..animation.options import CLI_WORDS, AnimationOptions, OptionsError

    torch_backend = getattr(args, "backend", "torch") == "torch"
    try:
        return AnimationOptions(
            mode=args.mode, adapt_scale=args.adapt_scale, best_frame=args.best_frame,
            crop=args.crop if args.crop is not None else "none", driving_crop=args.driving_crop,
            paste_back=args.paste_back, faces=args.faces, target=args.target, crop_margin=args.crop_margin,
            fit=args.fit, size=args.size, batch_size=args.batch_size,
            precision=args.precision if torch_backend else "fp32", compile=getattr(args, "compile", False),
            layout=args.layout, keypoints=args.keypoints, audio=_audio(args.audio), smooth=args.smooth,
            detector=args.detector, face=args.face, codec_device=args.codec_device,
            audio_from="source" if args.audio == "source" else "driving", loop=args.loop)
    except OptionsError as exc:
        raise CLIError(exc.worded(CLI_WORDS)) from None


def run(args: argparse.Namespace) -> int:
    from ..animation.options import CLI_WORDS, OptionsError
    from ..io import is_video_path, read_image
    from ..pipeline import animate_file

    options = options_from_args(args)
    with user_errors():
        source = args.source if is_video_path(args.source) else read_image(args.source)  # a path: a source video

        def load():  # called once the driving video and the output path have been checked
            steady_memory()
            still = None if options.cropping or isinstance(source, str) else source
            model = model_from_speed_args(args, image=still)
            announce_compile(args)
            return model

        with TqdmProgress() as progress:
            try:
                result = animate_file(load, source, args.driving, args.output, options, progress=progress,
                                      overwrite=args.overwrite, inputs=(args.source, args.checkpoint),
                                      words=CLI_WORDS, device=args.device)
            except OptionsError as exc:  # found on the way (the audio, the codecs, a source video's options)
                raise CLIError(exc.worded(CLI_WORDS)) from None
    if result.truncated:
        print(f"fomm animate: warning: {args.driving} is truncated or damaged: animated the {result.frames} frames "
              "that decode", file=sys.stderr)
    print(summary(result.frames, result.seconds, args.output))
    return 0
