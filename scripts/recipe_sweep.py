"""Compare training recipes for the bundled model at the same CPU budget, all at once on one device.

    python scripts/recipe_sweep.py --device cuda --data data/synthetic --held-out ho12=/tmp/ho12 \\
        --work /tmp/sweep --repeats 2 --only base,down1,down1-gan10

Each variant of ``synthetic-64-parts`` gets the number of steps that fits the bundled run's CPU
budget on our 2-core development machine (7600 steps x 0.353 s, one thread; each variant's own CPU
cost per step was measured there), so a GPU sweep ranks recipes by what they would reach on that
CPU. All variants train at once (on a GPU, start ``nvidia-cuda-mps-control -d`` first so that small
processes share it); ``--repeats R`` (of the recipe's 5 per epoch) trains R/5 of that budget with
the same epochs and learning-rate milestones, for a quicker ranking. Then the last checkpoint of each
run is evaluated with ``fomm reconstruct`` on every ``--held-out`` set, and one line per run and set
is printed and written to ``WORK/sweep.txt``. This is how docs/keypoint-collapse.md's sweep was made.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

FOMM = [sys.executable, "-m", "fomm"]

GAN = ["train_params.loss_weights.generator_gan=1", "train_params.loss_weights.discriminator_gan=1",
       "train_params.loss_weights.feature_matching=[10,10,10,10]"]
GAN25 = ["train_params.loss_weights.generator_gan=0.25", "train_params.loss_weights.discriminator_gan=1",
         "train_params.loss_weights.feature_matching=[2.5,2.5,2.5,2.5]"]
GAN10 = ["train_params.loss_weights.generator_gan=0.1", "train_params.loss_weights.discriminator_gan=1",
         "train_params.loss_weights.feature_matching=[1,1,1,1]"]
DOWN1 = ["model_params.generator_params.num_down_blocks=1"]
SEP5 = ["train_params.loss_weights.keypoint_separation=5"]

# name: (batch, lr, epochs, milestone, --set values, other flags). Measured CPU s per step (one thread,
# channels-last): batch 4 0.353, batch 2 0.199, + GAN 0.426, num_down_blocks 1 0.339, batch 2 with it 0.205.
VARIANTS = {
    "base": (4, 3e-4, 19, 14, [], []),
    "base-bf16": (4, 3e-4, 19, 14, [], ["--amp", "bf16"]),
    "b2": (2, 3e-4, 17, 13, [], []),
    "b2-lr2": (2, 2e-4, 17, 13, [], []),
    "down1": (4, 3e-4, 20, 15, DOWN1, []),
    "b2-down1": (2, 3e-4, 16, 12, DOWN1, []),
    "gan": (4, 3e-4, 16, 12, GAN, []),
    "down1-gan": (4, 3e-4, 16, 12, DOWN1 + GAN, []),
    "down1-gan25": (4, 3e-4, 16, 12, DOWN1 + GAN25, []),
    "down1-gan10": (4, 3e-4, 16, 12, DOWN1 + GAN10, []),
    "down1-gan10-bf16": (4, 3e-4, 16, 12, DOWN1 + GAN10, ["--amp", "bf16"]),
    "down1-gan-sep5": (4, 3e-4, 16, 12, DOWN1 + GAN + SEP5, []),
}


def train_command(name: str, args: argparse.Namespace) -> list[str]:
    batch, lr, epochs, milestone, sets, flags = VARIANTS[name]
    cmd = FOMM + ["train", "--config", "synthetic-64-parts", "--data", args.data, "--out", str(args.work / name),
                  "--seed", "0", "--device", args.device, "--workers", "2", "--threads", "1",
                  "--batch-size", str(batch), "--epochs", str(epochs), "--overwrite",
                  "--set", f"train_params.epoch_milestones=[{milestone}]",
                  "--set", f"train_params.num_repeats={args.repeats}"]
    for network in ("generator", "discriminator", "kp_detector"):
        cmd += ["--set", f"train_params.lr_{network}={lr}"]
    for value in sets:
        cmd += ["--set", value]
    return cmd + flags


def run_together(commands: dict[str, list[str]], logs: Path) -> dict[str, int]:
    """Start every command, wait for all; their output goes to LOGS/<name>.out."""
    started = time.time()
    procs = {name: subprocess.Popen(cmd, stdout=(logs / f"{name}.out").open("w"), stderr=subprocess.STDOUT)
             for name, cmd in commands.items()}
    codes = {}
    for name, proc in procs.items():
        codes[name] = proc.wait()
        print(f"{name}: exit {codes[name]} after {time.time() - started:.0f} s", flush=True)
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="training data (fomm synth --seed 0 --limb-swing 2)")
    parser.add_argument("--held-out", action="append", required=True, metavar="NAME=DIR",
                        help="held-out set for fomm reconstruct (repeatable)")
    parser.add_argument("--work", type=Path, required=True, help="folder for the runs and the report")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=5,
                        help="num_repeats, of the recipe's 5 (default 5: the whole budget)")
    parser.add_argument("--only", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    args = parser.parse_args()
    names = args.only.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    logs = args.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    codes = run_together({name: train_command(name, args) for name in names}, logs)
    evaluations = {}
    for name in names:
        checkpoints = sorted((args.work / name).glob("*-checkpoint.pth.tar"))
        for item in args.held_out if checkpoints and codes[name] == 0 else []:
            tag, _, data = item.partition("=")
            out = args.work / "eval" / f"{name}-{tag}"
            evaluations[f"{name}@{tag}"] = FOMM + ["reconstruct", "--checkpoint", str(checkpoints[-1]), "--data", data,
                                                   "--device", args.device, "--out", str(out), "--overwrite"]
    run_together(evaluations, logs)
    lines = [f"num_repeats {args.repeats} of 5 (share of the CPU budget: {args.repeats / 5:.1f})"]
    for key in evaluations:
        text = (logs / f"{key}.out").read_text()
        scores = re.search(r"^L1 .*$", text, re.M)
        keypoints = re.search(r"^keypoints: .*$", text, re.M)
        lines.append(f"{key}: {scores.group(0) if scores else 'evaluation failed'}")
        lines.append(f"    {keypoints.group(0) if keypoints else ''}")
    report = "\n".join(lines)
    print(report)
    (args.work / "sweep.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
