"""``fomm animate --crop auto|none|X,Y,W,H [--paste-back] [--faces all]``: the real-footage options of
the animate command (parsing only: the run is the same as without them, :func:`fomm.pipeline.animate_file`)."""

from __future__ import annotations

import argparse

from ..animation.options import DETECTORS, TARGETS
from .common import non_negative_float, non_negative_int


def _crop(text: str):
    from ..crop.box import CropError, parse_box

    if text in ("auto", "none"):
        return text
    try:
        return parse_box(text)
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
    g.add_argument("--face", type=non_negative_int, metavar="N",
                   help="with --crop auto: animate the photo's N-th face by size (0: the largest; fomm crop PHOTO "
                        "--list shows them)")
    g.add_argument("--detector", choices=DETECTORS, default="auto",
                   help="face detector of --crop auto: auto (default: the CNN, yunet, when installed, else OpenCV's "
                        "cascades, haar), yunet, haar, or mediapipe when installed")
    g.add_argument("--target", choices=TARGETS, default="face", help="what --crop auto looks for (default: face)")
    g.add_argument("--crop-margin", type=non_negative_float, metavar="M",
                   help="grow the found box by M times its size on each side (default 0.6 for faces, 0.1 for people)")
