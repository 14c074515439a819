"""``fomm crop INPUT``: find the face (or person) in a photo or video and write square crops framed like
the training data: one image per subject, or one clip per segment of a video, with audio."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..crop import TARGETS, CropOptions
from ..crop.clips import image_record, numbered, video_record, write_segment_clips
from ..crop.detect import DETECTORS, check_detector
from ..crop.image import crop_square
from ..crop.smooth import parse_smooth
from ..crop.subjects import NoSubjectError, image_subjects, no_subject_message
from ..crop.track import CUTS, plan_crops
from ..io import VideoReader, VideoWriter, atomic_path, is_image_path, read_image, write_image
from ..io.outputs import check_file_output, check_output_name
from ..io.writer import H264_SUFFIXES
from .common import CLIError, frame_size, non_negative_float, non_negative_int, positive_int, summary, user_errors


def add_parser(sub) -> None:
    p = sub.add_parser(
        "crop", help="crop the face (or person) of a photo or video like the training data",
        description="Find the subject of INPUT (a photo or a video) and write square crops framed like the models' "
                    "training data. A video is tracked frame by frame and split into segments where the subject "
                    "moves too far for one fixed crop or disappears; each segment becomes a clip OUT-000.mp4, "
                    "OUT-001.mp4, ... with its audio.")
    p.add_argument("input", help="photo (png, jpg, webp, bmp) or video (mp4, mov, avi, mkv, webm, gif, a folder of "
                                 "frames)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output image or video name (default: INPUT's name + '-crop', in the current folder); a "
                        "video gives OUT-000.mp4, OUT-001.mp4, ...")
    p.add_argument("--json", metavar="BOXES.json",
                   help="write every frame's box (frame, x, y, w, h in original pixels; detected or interpolated) "
                        "and each clip's crop")
    p.add_argument("--target", choices=TARGETS, default="face", help="what to crop (default: face)")
    p.add_argument("--size", type=frame_size, default=256, metavar="PX", help="side of the crops (default 256)")
    p.add_argument("--margin", type=non_negative_float, metavar="M",
                   help="grow the subject's box by M times its size on each side before squaring it "
                        "(default: 0.6 for faces, 0.1 for people)")
    p.add_argument("--min-frames", type=positive_int, default=15, metavar="N",
                   help="skip video segments shorter than N frames (default 15)")
    p.add_argument("--all", action="store_true", help="write every subject, not only the largest")
    p.add_argument("--face", type=non_negative_int, metavar="N",
                   help="write subject N only (0: the largest; --list shows them in that order)")
    p.add_argument("--list", action="store_true", help="list the subjects found, largest first, and write nothing")
    p.add_argument("--detector", choices=DETECTORS, default="auto",
                   help="face detector (default auto: the CNN, yunet, when installed, else OpenCV's cascades, haar, "
                        "which always work; mediapipe when installed)")
    p.add_argument("--smooth", default="auto", metavar="off|auto|FRAMES",
                   help="smooth a video's boxes over time, without delay (default auto: 2 frames)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    with user_errors():
        options = CropOptions(target=args.target, size=args.size, margin=args.margin, min_frames=args.min_frames,
                              backend=check_detector(args.detector), smooth=parse_smooth(args.smooth).strength)
        for option, name in (("-o", args.output), ("--json", args.json)):
            if name is not None:
                check_output_name(name, option)
        if is_image_path(source):
            return _crop_image(args, source, options)
        return _crop_video(args, source, options)


def _pick(args: argparse.Namespace, count: int, what: str, source: Path) -> list[int]:
    """The subjects to write: every one (--all), --face N, or the largest."""
    if args.all and args.face is not None:
        raise CLIError("--all and --face N both choose subjects; give one of them")
    if args.face is None:
        return list(range(count)) if args.all else [0]
    if args.face >= count:
        raise CLIError(f"--face {args.face}: {source} has {count} {what}{'s' if count != 1 else ''} (0 to {count - 1}, "
                       "largest first); fomm crop --list shows them")
    return [args.face]


def _default_output(source: Path, suffix: str) -> Path:
    return Path.cwd() / f"{source.stem}-crop{suffix}"


def _check_free(paths: list[Path], overwrite: bool, source: Path) -> None:
    """The shared output rules (fomm.io.outputs): nothing replaced without --overwrite, the input never."""
    for path in paths:
        check_file_output(path, overwrite=overwrite, inputs=(source,))


def _write_json(path: str | None, record: dict, overwrite: bool) -> None:
    if path is None:
        return
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")


def _crop_image(args: argparse.Namespace, source: Path, options: CropOptions) -> int:
    start = time.perf_counter()
    output = Path(args.output) if args.output else _default_output(source, ".png")
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        raise CLIError(f"{output}: a photo's crop is an image; give -o NAME.png (or .jpg, .webp, .bmp)")
    image = read_image(source)
    subjects = image_subjects(image, options, str(source),
                              "crop it by hand (any image editor), or try --target person")
    if args.list:
        for i, subject in enumerate(subjects):
            box = subject.box
            print(f"{options.target} {i}: {box.rounded().describe()} ({max(box.w, box.h):.0f} px, "
                  f"score {box.score:.2f}, tilt {box.angle:.0f} deg) -> crop {subject.crop.describe()}")
        return 0
    picked = _pick(args, len(subjects), options.target, source)
    chosen = [subjects[i] for i in picked]
    paths = [numbered(output, i) for i in range(len(chosen))] if args.all else [output]
    _check_free(paths + ([Path(args.json)] if args.json else []), args.overwrite, source)
    for subject, path in zip(chosen, paths, strict=True):
        write_image(path, crop_square(image, subject.crop, options.size))
    outputs = [str(p) for p in paths] + [None] * (len(subjects) - len(paths))
    _write_json(args.json, image_record(str(source), image, subjects, outputs, options), args.overwrite)
    for subject, path in zip(chosen, paths, strict=True):
        print(f"{options.target} at {subject.box.describe()} -> crop {subject.crop.describe()} -> {path}")
    if not args.all and args.face is None and len(subjects) > 1:
        print(f"({len(subjects) - 1} more {options.target}s found; --all writes every one, --face N one of them)")
    print(summary(1, time.perf_counter() - start, paths[0] if len(paths) == 1 else output.parent))
    return 0


def _crop_video(args: argparse.Namespace, source: Path, options: CropOptions) -> int:
    output = Path(args.output) if args.output else _default_output(source, ".mp4")
    if output.suffix.lower() not in (*H264_SUFFIXES, ".gif"):
        raise CLIError(f"{output}: a video's crops are clips; give -o NAME.mp4 (or .mov, .mkv, .gif)")
    if not args.list:
        _check_free([numbered(output, 0)] + ([Path(args.json)] if args.json else []), args.overwrite, source)
    start = time.perf_counter()
    with VideoReader(source) as reader:
        frames = tqdm(reader, total=reader.num_frames, unit="frame", desc="detect", leave=False)
        plan = plan_crops(frames, options)
        fps, has_audio = reader.fps, reader.has_audio
    if not plan.subjects:
        if not plan.skipped:
            raise NoSubjectError(no_subject_message(
                f"any of the {plan.num_frames} frames of {source}", options.target,
                "check --target, or crop the video by hand (e.g. ffmpeg -filter:v crop=W:H:X:Y)"))
        longest = max(len(s) for s in plan.skipped)
        raise CLIError(f"every segment of {source} is shorter than --min-frames {options.min_frames} (the longest "
                       f"has {longest} frames); lower --min-frames")
    if args.list:
        for i, subject in enumerate(plan.subjects):
            size = np.median([max(fb.box.w, fb.box.h) for segment in subject for fb in segment.boxes])
            spans = ", ".join(f"{s.start}-{s.end - 1}" for s in subject)
            print(f"{options.target} {i}: {size:.0f} px, frames {spans} ({len(subject)} segments)")
        return 0
    picked = set(_pick(args, len(plan.subjects), options.target, source))
    chosen = [i for i, s in enumerate(plan.segments) if s.subject in picked]
    segments = [plan.segments[i] for i in chosen]
    paths = [numbered(output, n) for n in range(len(segments))]
    audio = has_audio and output.suffix.lower() in H264_SUFFIXES
    writers = [VideoWriter(path, fps=fps, audio_from=source if audio else None, audio_start=s.start / fps,
                           overwrite=args.overwrite, inputs=(source,)) for s, path in zip(segments, paths, strict=True)]
    last = max(s.end for s in segments)
    with VideoReader(source) as reader, tqdm(total=last, unit="frame", desc="crop", leave=False) as bar:
        write_segment_clips(reader, segments, writers, options.size, bar.update)
    _write_json(args.json, video_record(str(source), plan, fps, {i: str(p) for i, p in zip(chosen, paths,
                                                                                          strict=True)}),
                args.overwrite)
    for segment, path in zip(segments, paths, strict=True):
        print(f"frames {segment.start}-{segment.end - 1} ({segment.start / fps:.2f} s, {len(segment)} frames), "
              f"{options.target} {segment.subject}, crop {segment.crop.describe()} -> {path}; cut: {CUTS[segment.cut]}")
    if plan.skipped:
        print(f"skipped {len(plan.skipped)} segments shorter than --min-frames {options.min_frames}")
    others = sum(1 for s in plan.segments if s.subject != 0)
    if not args.all and args.face is None and others:
        print(f"({len(plan.subjects) - 1} more {options.target}s, {others} segments; --all writes them too)")
    print(summary(plan.num_frames, time.perf_counter() - start, output.parent / f"{output.stem}-*{output.suffix}"))
    return 0
