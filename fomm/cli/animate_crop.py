"""``fomm animate --crop auto|none|X,Y,W,H [--paste-back] [--faces all]``: the animate command on real
footage. Not a command of its own: the options and the run that ``fomm animate`` uses when a crop or
paste-back is asked for, on top of :mod:`fomm.crop.animate` (the library does the work)."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import closing

from tqdm import tqdm

from ..animation import Animator
from ..crop import TARGETS, Box, CropOptions
from ..crop.animate import CropAnimation, DrivingCrops, parse_crop, plan_driving, source_boxes
from ..crop.box import CropError
from ..io import BackgroundWriter, VideoReader, read_image
from .common import (
    CLIError,
    model_from_speed_args,
    non_negative_float,
    speed_options,
    steady_memory,
    summary,
    user_errors,
)


def _crop(text: str) -> str | Box:
    try:
        return parse_crop(text)
    except CropError as exc:
        raise argparse.ArgumentTypeError(f"expected auto, none or X,Y,W,H; {exc}") from None


def add_crop_arguments(p: argparse.ArgumentParser) -> None:
    """The real-footage options of ``fomm animate``."""
    g = p.add_argument_group("real footage (crop, paste-back)")
    g.add_argument("--crop", type=_crop, metavar="auto|none|X,Y,W,H",
                   help="auto: find the face in SOURCE and DRIVING and crop both like the training data (the driving "
                        "crop stays fixed within each segment, so head motion is kept); X,Y,W,H: the source's box in "
                        "pixels (the driving video is then cropped automatically); none: no crop. Default: the "
                        "center square, as without this option")
    g.add_argument("--driving-crop", type=_crop, metavar="auto|none|X,Y,W,H",
                   help="the driving video's crop (default: auto when --crop is given, none otherwise)")
    g.add_argument("--paste-back", action="store_true",
                   help="blend the animated crop back into the full-resolution source photo: the output has the "
                        "photo's size and everything outside the face's box is the photo")
    g.add_argument("--faces", choices=("largest", "all"), default="largest",
                   help="with --crop auto: animate the largest face (default) or every face (group photos; needs "
                        "--paste-back), all with the same driving motion")
    g.add_argument("--target", choices=TARGETS, default="face", help="what --crop auto looks for (default: face)")
    g.add_argument("--crop-margin", type=non_negative_float, metavar="M",
                   help="grow the found box by M times its size on each side (default 0.6 for faces, 0.1 for people)")


def wants_crop(args: argparse.Namespace) -> bool:
    return args.crop is not None or args.driving_crop is not None or args.paste_back or args.faces == "all"


def run_cropped(args: argparse.Namespace, open_writer) -> int:
    """``fomm animate`` with crops: detect (cheap, before the model loads), then animate and write."""
    if args.faces == "all" and not args.paste_back:
        raise CLIError("--faces all needs --paste-back: the faces are put back into one picture")
    if args.faces == "all" and isinstance(args.crop, Box):
        raise CLIError("--faces all finds the faces itself; drop --crop X,Y,W,H (or use --faces largest)")
    source_crop = args.crop if args.crop is not None else "none"
    driving_crop = args.driving_crop if args.driving_crop is not None else ("auto" if args.crop is not None else "none")
    with user_errors():
        photo = read_image(args.source)
        reader = VideoReader(args.driving)
        try:
            writer = open_writer(args, reader)
            steady_memory()
            model = model_from_speed_args(args)
            size = int(args.size or model.config.frame_size)
            options = CropOptions(target=args.target, size=size, margin=args.crop_margin)
            boxes = source_boxes(photo, source_crop, options, args.faces, fit=args.fit)
            driving = _driving_crops(args, reader, driving_crop, options)

            def make_animator(crop):
                return Animator(model, crop, mode=args.mode, adapt_scale=args.adapt_scale, size=size, fit=args.fit,
                                batch_size=args.batch_size, **speed_options(args))

            crops = CropAnimation.prepare(make_animator, photo, boxes, driving, size, paste_back=args.paste_back,
                                          keypoints=args.keypoints)
            for box in boxes:
                tqdm.write(f"source crop {box.describe()}", file=sys.stderr)
            start = time.perf_counter()
            frames = _animate(args, crops, reader, writer)
            seconds = time.perf_counter() - start
        finally:
            reader.close()
    print(summary(frames, seconds, args.output))
    return 0


def _driving_crops(args, reader: VideoReader, crop, options: CropOptions) -> DrivingCrops | None:
    frames = tqdm(reader, total=reader.num_frames, unit="frame", desc="track driving", leave=False) \
        if crop == "auto" else reader  # read only for auto: no empty bar for a fixed crop
    found = plan_driving(frames, reader.size, crop, options, str(args.driving))
    if found is not None and found.num_segments > 1:
        tqdm.write(f"driving video: {found.num_segments} segments (the subject moved too far for one crop or left); "
                   "relative motion restarts at each", file=sys.stderr)
    return found


def _reference(args, crops: CropAnimation, reader: VideoReader) -> dict:
    """--best-frame with crops: the reference keypoints for the group holding that frame."""
    if args.best_frame is None:
        return {}
    if args.best_frame == "auto":
        frames = tqdm(reader, total=reader.num_frames, unit="frame", desc="best frame", leave=False)
        index, distance, reference = crops.best_frame(frames)
        tqdm.write(f"starting from frame {index} (pose distance {distance:.3f})", file=sys.stderr)
        return reference
    return crops.best_frame(reader, args.best_frame)[2]


def _animate(args, crops: CropAnimation, reader: VideoReader, writer) -> int:
    reference = _reference(args, crops, reader)
    count = 0
    with writer, BackgroundWriter(writer) as background, closing(crops.stream(reader, reference)) as stream:
        for frame in tqdm(stream, total=reader.num_frames, unit="frame", desc="animate"):
            background.write(crops.render(frame, args.layout))
            count += 1
    return count
