"""Score ``--mode avd`` after the AVD stage on held-out synthetic figures, in avd mode with the trained AVD
network and with the same network untrained (as the stage's trainer initializes it, seed 0), beside
relative and absolute modes; L1 against the answer, and AKD / MKR of the figures' parts located by color
(fomm.evaluation.parts), so no learned keypoints judge the result. Two kinds of pairs:

- each ``test/`` video of a ``fomm synth`` folder animated from its own first frame (the answer: the video);
- ``--pairs N``: figure A's first frame animated by figure B's video, two figures of other body shapes
  (seeds [--seed, 2i] and [--seed, 2i + 1]); the answer is A's figure moving as B's does
  (fomm.data.synthetic.shape_in_motion_video).

    python scripts/avd_scores.py runs/avd/00000004-checkpoint.pth.tar --data data/heldout --pairs 10

Prints Markdown tables (docs/training.md#the-avd-stage has the figures).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import fomm
from fomm.animation import Animator
from fomm.data.synthetic import SyntheticConfig, generate_video, load_tracks, shape_in_motion_video
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


Case = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # source frame, driving, answer, part colors


def scores(model, mode: str, cases: list[Case]) -> tuple[float, float, float]:
    """Mean L1, AKD (px) and MKR of the animations of ``cases`` against their answers."""
    rows = []
    for source, driving, answer, colors in cases:
        out = np.stack([f.image for f in Animator(model, source, mode=mode).stream(list(driving))])
        error = part_position_error(out, answer, colors)
        rows.append((np.abs(out.astype(np.float32) - answer).mean() / 255, error.akd, error.mkr))
    return tuple(np.nanmean(np.array(rows), axis=0))


def same_video_cases(root: Path) -> list[Case]:
    cases = []
    for video in sorted(p for p in (root / "test").iterdir() if p.is_dir()):
        frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in sorted(video.glob("*.png"))])
        cases.append((frames[0], frames, frames, load_tracks(video.parent / f"{video.name}.tracks.json").part_colors))
    return cases


def other_figure_cases(pairs: int, seed: int, config: SyntheticConfig) -> list[Case]:
    cases = []
    for i in range(pairs):
        shape, motion = [seed, 2 * i], [seed, 2 * i + 1]
        source = generate_video(shape, config)
        answer = shape_in_motion_video(shape, motion, config)
        cases.append((source.frames[0], generate_video(motion, config).frames, answer.frames,
                      answer.tracks.part_colors))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint of the AVD stage")
    parser.add_argument("--data", help="a fomm synth folder; its test/ videos are scored")
    parser.add_argument("--pairs", type=int, default=0, help="pairs of figures of other shapes to score")
    parser.add_argument("--seed", type=int, default=424242, help="seed of the pairs' figures")
    parser.add_argument("--frames", type=int, default=20, help="frames of each pair's driving video")
    parser.add_argument("--limb-swing", type=float, default=2.0, help="as fomm synth --limb-swing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    trained = fomm.load_model(args.checkpoint, device="cpu")
    rows = {"relative": (trained, "relative"), "absolute": (trained, "absolute"),
            "avd, untrained AVD network": (untrained_copy(trained), "avd"), "avd, trained": (trained, "avd")}
    config = SyntheticConfig(size=trained.config.frame_size, num_frames=args.frames, limb_swing=args.limb_swing)
    sets = []
    if args.data:
        sets.append((f"held-out videos of {args.data}, each from its first frame", same_video_cases(Path(args.data))))
    if args.pairs:
        sets.append((f"pairs of figures (seed {args.seed}): A's first frame driven by B",
                     other_figure_cases(args.pairs, args.seed, config)))
    for title, cases in sets:
        print(f"\n{len(cases)} {title}\n\n| mode | L1 | AKD (px) | MKR |\n|---|---|---|---|")
        for name, (model, mode) in rows.items():
            l1, akd, mkr = scores(model, mode, cases)
            print(f"| {name} | {l1:.4f} | {akd:.2f} | {mkr:.3f} |")


if __name__ == "__main__":
    main()
