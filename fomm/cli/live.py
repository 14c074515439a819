"""``fomm live --source IMAGE``: animate a source image from a webcam (or a video file played as one)
into a window, a virtual camera or a video file, latest frame wins."""

from __future__ import annotations

import argparse
import sys
import threading

from ..animation.options import DETECTORS
from ..live.commands import COMMANDS, parse_schedule
from .common import (
    CLIError,
    add_model_arguments,
    add_precision_argument,
    load_model_from_args,
    positive_int,
    summary,
    user_errors,
)


def add_parser(sub) -> None:
    keys = ", ".join(f"{key}: {what}" for key, what in COMMANDS.items())
    p = sub.add_parser(
        "live", help="drive a source image from a webcam, live",
        description="Animate SOURCE with the frames of a webcam (or of a video file played in real time) and show "
                    "the result in a window, send it to a virtual camera or write it to a video file. Frames the "
                    f"model has no time for are dropped (the latest frame wins). Keys: {keys}; in a terminal type "
                    "them followed by Enter.")
    p.add_argument("--source", action="append", required=True, metavar="IMAGE",
                   help="source image; repeat to switch between several with n")
    p.add_argument("--camera", default="0", metavar="0|PATH",
                   help="webcam number (default 0) or a video file played as a camera")
    p.add_argument("--output", default="window", metavar="window|virtual-camera|FILE",
                   help="window (default), virtual-camera (needs fomm[live]) or a video file (.mp4, .gif, ...) "
                        "at the camera's frame rate")
    add_model_arguments(p)
    p.add_argument("--mode", metavar="relative|absolute|avd",
                   help="relative (the default of every model family): motion from the neutral pose (the first "
                        "frame; x recalibrates); absolute; avd (models with an AVD network)")
    p.add_argument("--adapt-scale", action="store_true", help="scale relative motion by the poses' size ratio")
    p.add_argument("--smooth", default="auto", metavar="off|auto|FRAMES",
                   help="steady the camera's motion (keypoints, jacobians) with a One Euro filter: a still head stops "
                        "shaking, a moving one is followed with little lag (default auto: 2 frames)")
    p.add_argument("--crop", choices=("none", "auto"), default="none",
                   help="auto: crop each source and the camera around the face, framed like the face checkpoints' "
                        "training data; the camera's crop is found in the first frame with a face and again at "
                        "each x (recalibrate), and stays fixed in between. Default none: whole frames")
    p.add_argument("--detector", choices=DETECTORS, default="auto",
                   help="face detector of --crop auto (default auto: the CNN, yunet, when installed, else haar)")
    p.add_argument("--every-frame", action="store_true",
                   help="with a video file as camera: animate every frame as fast as possible instead of playing "
                        "it in real time (nothing dropped)")
    p.add_argument("--commands", type=_schedule, default={}, metavar="FRAME:KEY,...",
                   help="commands at camera frame numbers, e.g. 30:x,60:n,90:q (for scripts and tests)")
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="CPU threads (torch.set_num_threads); default: PyTorch's choice. On a busy machine fewer "
                        "threads can be much faster")
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    add_precision_argument(p)
    p.set_defaults(func=run)


def _schedule(text: str) -> dict[int, list[str]]:
    try:
        return parse_schedule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _read_terminal(session) -> None:
    """Commands typed in the terminal (a key, then Enter)."""
    for line in sys.stdin:
        key = line.strip()[:1]
        if key in COMMANDS:
            session.send(key)


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from ..animation.options import CLI_WORDS, AnimationOptions, OptionsError
    from ..live import Camera, LiveAnimator, LiveSession, open_camera, open_output

    if args.batch_size is not None:
        raise CLIError("--batch-size does not apply: live mode animates one frame at a time, the latest")
    if args.every_frame and str(args.camera).isdigit():
        raise CLIError("--every-frame is for a video file as camera; a webcam delivers frames at its own pace")
    try:
        options = AnimationOptions(mode=args.mode, adapt_scale=args.adapt_scale or None, size=args.size, fit=args.fit,
                                   precision=args.precision, smooth=args.smooth, crop=args.crop,
                                   detector=args.detector)
    except OptionsError as exc:
        raise CLIError(exc.worded(CLI_WORDS)) from None
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with user_errors():
        source = open_camera(args.camera, realtime=not args.every_frame)
        try:
            output = open_output(args.output, overwrite=args.overwrite,
                                 inputs=(*args.source, args.camera, args.checkpoint))
            model = load_model_from_args(args)
            live = LiveAnimator(model, args.source, options)
        except BaseException:
            source.close()
            raise
        bar = tqdm(total=source.num_frames, unit="frame", desc="live", file=sys.stderr)

        def progress(stats) -> None:
            bar.set_postfix_str(f"{stats.fps:.1f} fps, {stats.dropped} dropped, "
                                f"{1000 * stats.latencies[-1]:.0f} ms", refresh=False)
            bar.n = stats.captured
            bar.refresh()

        session = LiveSession(live, Camera(source), output, schedule=args.commands, on_frame=progress)
        if args.output != "window" and sys.stdin is not None and sys.stdin.isatty():
            threading.Thread(target=_read_terminal, args=(session,), name="fomm-keys", daemon=True).start()
        try:
            stats = session.run()
        finally:
            bar.close()
    print(f"fomm live: {stats.summary()}")
    print(summary(stats.animated, stats.seconds, args.output))
    return 0
