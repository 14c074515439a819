"""Score bundled (or any) models beside "repeat the first frame" on held-out ``fomm synth`` videos: the
figures the bundled models were trained on (``--limb-swing 2``) of a seed never trained on, and
``fomm synth``'s default motion (limbs swinging half as far) of another fresh seed. L1, AKD and MKR come
from ``fomm.evaluation.reconstruct`` (each video reconstructed from its first frame; AKD and MKR of the
figures' parts located by their colors, so no learned keypoints judge the result), with each model's
ratio to the baseline on the same videos.

    python scripts/demo_scores.py default runs/tpsmm-synthetic-64/00000008-checkpoint.pth.tar
    python scripts/demo_scores.py default --training-test data/synthetic   # also the training seed's test/ videos

Prints a Markdown table (docs/training.md#training-tpsmm-the-demonstration has the figures).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

import fomm
from fomm.data.synthetic import make_synthetic_dataset
from fomm.evaluation.reconstruct import ReconstructionResult, reconstruct

HELD_OUT_SEED = 424242  # the seed of the bundled FOMM model's held-out scores (docs/training.md)
DEFAULT_MOTION_SEED = 31337  # a fresh seed for fomm synth's default motion


@dataclass(frozen=True)
class HeldOutSet:
    """A ``fomm synth`` folder to generate: ``label`` names it in the table."""

    label: str
    videos: int
    frames: int
    seed: int
    limb_swing: float

    def make(self, root: Path) -> Path:
        folder = root / f"seed{self.seed}-swing{self.limb_swing:g}-{self.videos}x{self.frames}"
        make_synthetic_dataset(folder, num_videos=self.videos, num_frames=self.frames, size=64, seed=self.seed,
                               test_fraction=1.0, limb_swing=self.limb_swing, overwrite=True)
        return folder


HELD_OUT_SETS = (
    HeldOutSet(f"`--limb-swing 2`, 16 videos of `--seed {HELD_OUT_SEED}`, 32 frames", 16, 32, HELD_OUT_SEED, 2.0),
    HeldOutSet(f"`--limb-swing 2`, 12 videos of `--seed {HELD_OUT_SEED}`, 20 frames (the tests' videos)", 12, 20,
               HELD_OUT_SEED, 2.0),
    HeldOutSet(f"default motion, 16 videos of `--seed {DEFAULT_MOTION_SEED}`, 32 frames", 16, 32,
               DEFAULT_MOTION_SEED, 1.0),
)


def score(model, root: Path) -> ReconstructionResult:
    torch.manual_seed(0)
    return reconstruct(model, root, split="test", batch_size=32)


def rows(label: str, results: dict[str, ReconstructionResult]) -> list[str]:
    """The table's rows of one held-out set: each model, then the baseline (the same for every model)."""
    baseline = next(iter(results.values())).baseline
    lines = []
    for name, result in results.items():
        m, kp = result.model, result.keypoints
        coverage = f"{min(kp.part_hits):.1%}" if kp is not None and kp.part_hits else "-"
        lines.append(f"| {label} | {name} | {m.l1:.4f} | {m.akd:.2f} | {m.mkr:.3f} | {m.l1 / baseline.l1:.3f}x | "
                     f"{m.akd / baseline.akd:.3f}x | {coverage} |")
        label = ""
    lines.append(f"| | \"repeat the first frame\" | {baseline.l1:.4f} | {baseline.akd:.2f} | {baseline.mkr:.3f} "
                 "| 1x | 1x | - |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model names (default) or checkpoint files")
    parser.add_argument("--training-test", type=Path, default=None,
                        help="also score the test/ videos of the training set (fomm synth --seed 0 --limb-swing 2)")
    parser.add_argument("--work", type=Path, default=None, help="where to write the held-out videos (default: a "
                        "temporary folder, removed after)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = {name: fomm.load_model(name, device="cpu") for name in args.models}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        sets = [(s.label, s.make(work)) for s in HELD_OUT_SETS]
        if args.training_test is not None:
            sets.insert(0, ("`--limb-swing 2`, the test videos of the training set (`--seed 0`)", args.training_test))
        print("| held-out videos | model | L1 | AKD (px) | MKR | L1 / baseline | AKD / baseline | "
              "frames with a keypoint within 6 px, worst part |")
        print("|---|---|---|---|---|---|---|---|")
        for label, root in sets:
            results = {name: score(model, root) for name, model in models.items()}
            print("\n".join(rows(label, results)), flush=True)


if __name__ == "__main__":
    main()
