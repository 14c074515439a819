"""Score ``--mode avd`` after the AVD stage on held-out ``fomm synth`` videos: each video animated from its
first frame, in avd mode with the trained AVD network and with the same network untrained (as the
stage's trainer initializes it, seed 0), beside relative mode; L1 against the video, and AKD / MKR of the
figures' parts located by color (fomm.evaluation.parts), so no learned keypoints judge the result.

    python scripts/avd_scores.py runs/avd/00000004-checkpoint.pth.tar data/heldout

Prints a Markdown table (docs/training.md#the-avd-stage has the figures).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import fomm
from fomm.animation import Animator
from fomm.data.synthetic import load_tracks
from fomm.evaluation.parts import part_position_error
from fomm.families import family_of
from fomm.training.state import seed_everything


def untrained_copy(model):
    """``model`` with its AVD network as the AVD stage's trainer draws it (seed 0, every network built)."""
    family = family_of(model)
    seed_everything(0)
    fresh = family.build_model(model.config, family.networks)
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith("avd_network.")}
    fresh.load_state_dict(kept, strict=False)
    return fresh.eval()


def scores(model, mode: str, videos: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, float]:
    """Mean L1, AKD (px) and MKR over ``videos`` ((frames, part colors) each)."""
    rows = []
    for frames, colors in videos:
        out = np.stack([f.image for f in Animator(model, frames[0], mode=mode).stream(list(frames))])
        error = part_position_error(out, frames, colors)
        rows.append((np.abs(out.astype(np.float32) - frames).mean() / 255, error.akd, error.mkr))
    return tuple(np.nanmean(np.array(rows), axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint of the AVD stage")
    parser.add_argument("data", help="a fomm synth folder; its test/ videos are scored")
    args = parser.parse_args()
    torch.set_num_threads(1)
    trained = fomm.load_model(args.checkpoint, device="cpu")
    videos = []
    for video in sorted(p for p in (Path(args.data) / "test").iterdir() if p.is_dir()):
        frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in sorted(video.glob("*.png"))])
        videos.append((frames, load_tracks(video.parent / f"{video.name}.tracks.json").part_colors))
    rows = {"relative": (trained, "relative"), "avd, untrained AVD network": (untrained_copy(trained), "avd"),
            "avd, trained": (trained, "avd")}
    print(f"{len(videos)} held-out videos of {args.data}, each animated from its first frame\n")
    print("| mode | L1 | AKD (px) | MKR |\n|---|---|---|---|")
    for name, (model, mode) in rows.items():
        l1, akd, mkr = scores(model, mode, videos)
        print(f"| {name} | {l1:.4f} | {akd:.2f} | {mkr:.3f} |")


if __name__ == "__main__":
    main()
