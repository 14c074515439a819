"""Benchmark: seconds per training step of ``fomm.training`` against a transcription of the authors' step.

    python benchmarks/train_step.py                  # tiny, anchor and vox-256 (batch 2 at 256 px: slow)
    python benchmarks/train_step.py --quick          # fewer steps, vox-256 at 128 px
    python benchmarks/train_step.py --threads 1 --steps 10 --configs anchor
    python benchmarks/train_step.py --threads 1 --configs none --variants synthetic-64,anchor   # fp32 vs bf16 / NHWC
    TPSMM_REPO=/path/to/Thin-Plate-Spline-Motion-Model python benchmarks/train_step.py --configs none --families

A step is the forward and backward of the generator side (keypoint detector, generator, losses) and,
when ``generator_gan`` is non-zero, of the discriminator, with the Adam updates. Both sides use the
same networks (``fomm.models``), weights (seed 0), frames and transform noise, and a VGG-19 with
random weights (the cost does not depend on the values); so the comparison isolates the loss side:

- naive: ``tests/training/original_step.py``, the authors' ``GeneratorFullModel`` /
  ``DiscriminatorFullModel`` / ``train.py`` loop: VGG-19 to relu5_1 on generated and real frames
  separately, both under autograd; ``torch.inverse``; discriminator weight gradients computed in the
  generator step and discarded; image pyramids computed again for the discriminator; the deformed
  source (for visualization) computed every step;
- ours: ``Trainer.train_step``: VGG only up to the last weighted layer and real features under
  ``no_grad``; the discriminator's weights frozen during the generator step and its real-frame pass
  under ``no_grad``; pyramids reused; closed-form 2x2 inverses.

``--variants`` times our step in fp32 against the same step with channels-last (NHWC) weights and
frames, with bf16 autocast, with both, and with Adam's fused kernel (``fomm train --fused-adam``), steps
alternating in one run, and prints the ratios to fp32 with the CPU's model and bf16 flags: bf16 pays
only on CPUs with AVX512-BF16 or AMX.

``--families`` times one step of each family's trainer (``fomm train``'s step for FOMM, TPSMM and MRAA)
on its golden tiny config (``../shared/golden/tiny.yaml``, ``tpsmm-tiny.yaml``, ``mraa-tiny.yaml``: 128 px,
narrow networks; FOMM's is vox-adv with the GAN on; TPSMM's at epoch 0, before ``bg_start``), batch 2,
steps alternating, with each family's cost as a multiple of FOMM's in the same run. With ``TPSMM_REPO``
(a copy of the authors' MIT code) their TPSMM step (``GeneratorFullModel``, backward, clipping, Adam;
``tests/fixtures/make_tpsmm_train_step.py``) runs beside ours on the same weights, frames and draws.
MRAA's code has no licence and is never run: its row has FOMM's step as its only baseline.

Configurations: ``tiny`` (``../shared/golden/tiny.yaml``: 128 px, GAN on), ``anchor`` (the issue's:
64 px, 5 keypoints, widths 16, 3-block hourglasses, scale factors 0.5, 2 bottleneck blocks,
perceptual scales [1, 0.5, 0.25], no GAN, batch 8; the original code takes 0.70 s per step on the
project's 2-core CPU) and ``vox-256`` (the published architecture, batch 2). Steps of both sides
alternate, so that load from other processes hits both alike; the median of ``--steps`` after
``--warmup`` is reported.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fomm.config import Config, load_config  # noqa: E402
from fomm.precision import cpu_features  # noqa: E402
from fomm.training.trainer import Trainer  # noqa: E402
from fomm.training.vgg import Vgg19  # noqa: E402
from tests.training.original_step import (  # noqa: E402
    OriginalDiscriminatorFullModel,
    OriginalGeneratorFullModel,
    original_step,
)

GOLDEN = Path(os.environ.get("FOMM_GOLDEN_DIR", REPO.parent / "shared" / "golden"))


def anchor_config() -> Config:
    """The issue's anchor: 64x64, 5 keypoints, widths 16, 3-block hourglasses, scale factors 0.5,
    2 bottleneck blocks, perceptual scales [1, 0.5, 0.25], no GAN, batch 8."""
    config = load_config("vox-256")
    config.dataset_params.frame_shape = [64, 64, 3]
    mp = config.model_params
    mp.common_params.num_kp = 5
    mp.kp_detector_params.block_expansion = 16
    mp.kp_detector_params.num_blocks = 3
    mp.kp_detector_params.scale_factor = 0.5
    mp.generator_params.block_expansion = 16
    mp.generator_params.num_bottleneck_blocks = 2
    mp.generator_params.dense_motion_params.block_expansion = 16
    mp.generator_params.dense_motion_params.num_blocks = 3
    mp.generator_params.dense_motion_params.scale_factor = 0.5
    tp = config.train_params
    tp.scales = [1, 0.5, 0.25]
    tp.batch_size = 8
    tp.loss_weights.generator_gan = 0
    return config


def configs(vox_size: int, names: set[str]) -> dict[str, Config]:
    """The configurations named (``tiny`` needs the golden fixtures, which are not everywhere)."""
    available = {}
    if "tiny" in names:
        available["tiny"] = load_config(GOLDEN / "tiny.yaml")
    vox = load_config("vox-256")
    vox.train_params.batch_size = 2
    vox.dataset_params.frame_shape = [vox_size, vox_size, 3]
    available.update({"anchor": anchor_config(), "vox-256": vox})
    for preset in ("synthetic-64", "synthetic-64-parts"):
        available[preset] = load_config(preset)
    return available


class _Frames(torch.utils.data.Dataset):
    def __init__(self, n: int, size: int):
        self.n, self.size = n, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"source": torch.rand(3, self.size, self.size), "driving": torch.rand(3, self.size, self.size)}


def bench(name: str, config: Config, steps: int, warmup: int, vgg: Vgg19) -> dict:
    size = config.frame_size
    batch = config.train_params.batch_size
    gan = config.train_params.loss_weights.generator_gan != 0
    torch.manual_seed(0)
    trainer = Trainer(config, _Frames(batch, size), "unused", device="cpu", vgg=vgg, tensorboard=False)
    naive = copy.deepcopy(trainer.model)
    optimizers = {n: torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
                  for n, net in naive.networks().items()}
    gen_full = OriginalGeneratorFullModel(naive.kp_detector, naive.generator, naive.discriminator,
                                          config.train_params, vgg, config.model_params.align_corners)
    disc_full = OriginalDiscriminatorFullModel(naive.discriminator, config.train_params)
    g = torch.Generator().manual_seed(1)
    x = {key: torch.rand(batch, 3, size, size, generator=g) for key in ("source", "driving")}

    times: dict[str, list[float]] = {"naive": [], "ours": []}
    difference = 0.0
    for i in range(warmup + steps):
        torch.manual_seed(100 + i)  # the same transform noise for both
        start = time.perf_counter()
        naive_losses = original_step(gen_full, disc_full, optimizers, x, gan)
        middle = time.perf_counter()
        torch.manual_seed(100 + i)
        ours_losses, _ = trainer.train_step(x["source"], x["driving"])
        end = time.perf_counter()
        if i == 0:  # same weights, frames and noise: the same losses
            difference = max(abs(float(naive_losses[k]) - float(ours_losses[k])) for k in ours_losses)
        if i >= warmup:
            times["naive"].append(middle - start)
            times["ours"].append(end - middle)
        print(f"  {name} step {i}: naive {middle - start:.3f} s, ours {end - middle:.3f} s", file=sys.stderr)
    return {"config": name, "size": size, "batch": batch, "gan": gan,
            "naive": statistics.median(times["naive"]), "ours": statistics.median(times["ours"]),
            "loss_difference": difference}


def cpu_description() -> str:
    """The CPU model and its bf16 instruction sets, for every table."""
    return f"{cpu_features().describe()}, {os.cpu_count()} cores"


VARIANTS = {"fp32": dict(), "channels-last": dict(channels_last=True),
            "channels-last + fused Adam": dict(channels_last=True, fused_adam=True), "bf16": dict(precision="bf16"),
            "bf16 + channels-last": dict(precision="bf16", channels_last=True),
            "bf16 + channels-last + fused Adam": dict(precision="bf16", channels_last=True, fused_adam=True)}


def _random_batch(batch: int, size: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {key: torch.rand(batch, 3, size, size, generator=g) for key in ("source", "driving")}


def alternate_steps(runs: dict, x: dict[str, torch.Tensor], steps: int, warmup: int,
                    label: str) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Time each of ``runs`` (``run(source, driving)`` -> losses, or a tuple starting with them) on the
    same batch, one step of each in turn with the same noise: the median seconds of the steps after
    ``warmup``, and each run's losses at the first step."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    first: dict[str, dict[str, float]] = {}
    for i in range(warmup + steps):
        for name, run in runs.items():
            torch.manual_seed(100 + i)  # every run draws the same dropout and warp
            start = time.perf_counter()
            losses = run(x["source"], x["driving"])
            elapsed = time.perf_counter() - start
            losses = losses[0] if isinstance(losses, tuple) else losses
            if i == 0:
                first[name] = {k: float(v.detach().mean()) for k, v in losses.items()}
            if i >= warmup:
                times[name].append(elapsed)
            print(f"  {label} step {i}: {name} {elapsed:.3f} s", file=sys.stderr)
    return {name: statistics.median(t) for name, t in times.items()}, first


def bench_variants(name: str, config: Config, steps: int, warmup: int, vgg: Vgg19) -> list[dict]:
    """Our step in fp32 and in each of ``VARIANTS``, from the same weights, frames and noise."""
    size, batch = config.frame_size, config.train_params.batch_size
    trainers = {}
    for variant, options in VARIANTS.items():
        torch.manual_seed(0)
        trainers[variant] = Trainer(config, _Frames(batch, size), "unused", device="cpu", vgg=vgg, tensorboard=False,
                                    diagnostics=False, **options)
    runs = {variant: trainer.train_step for variant, trainer in trainers.items()}
    seconds, first = alternate_steps(runs, _random_batch(batch, size), steps, warmup, name)
    base = seconds["fp32"]
    rows = []
    for variant in VARIANTS:
        difference = max(abs(first[variant][k] - v) / max(abs(v), 1e-12) for k, v in first["fp32"].items())
        rows.append({"config": name, "variant": variant, "seconds": seconds[variant], "ratio": base / seconds[variant],
                     "difference": difference, "batch": batch, "size": size})
    return rows


FAMILY_CONFIGS = {"fomm": "tiny.yaml", "tpsmm": "tpsmm-tiny.yaml", "mraa": "mraa-tiny.yaml"}


def family_trainer(family: str, batch: int, vgg: Vgg19):
    """Our trainer of ``family``'s golden tiny config at batch ``batch`` (weights of seed 0)."""
    import dataclasses

    from fomm.families import read_config
    from fomm.training.families import trainer_class, with_frame_shape

    config = with_frame_shape(read_config(GOLDEN / FAMILY_CONFIGS[family])[1])
    config = dataclasses.replace(config, train_params=dataclasses.replace(config.train_params, batch_size=batch))
    torch.manual_seed(0)
    return trainer_class(config)(config, _Frames(batch, config.frame_size), "unused", device="cpu", vgg=vgg,
                                 tensorboard=False, diagnostics=False, visualize=False)


def authors_tpsmm(trainer, vgg: Vgg19):
    """The authors' TPSMM step on ``trainer``'s weights, from ``TPSMM_REPO``; None without it."""
    repo = os.environ.get("TPSMM_REPO")
    if not repo:
        return None
    from tests.fixtures.make_tpsmm_train_step import authors_step, authors_trainer, load_authors_modules

    data = trainer.config.to_dict()
    full, nets, optimizer = authors_trainer(load_authors_modules(repo), data, trainer.model, vgg)
    return lambda source, driving: authors_step(full, nets, optimizer, source, driving, trainer.epoch,
                                                data["train_params"])


def bench_families(steps: int, warmup: int, vgg: Vgg19, batch: int = 2) -> list[dict]:
    """One step of each family's trainer (and of the authors' TPSMM step when given), alternating."""
    trainers = {family: family_trainer(family, batch, vgg) for family in FAMILY_CONFIGS}
    runs = {family: trainer.train_step for family, trainer in trainers.items()}
    authors = authors_tpsmm(trainers["tpsmm"], vgg)
    if authors is not None:
        runs["tpsmm (authors')"] = authors
    size = trainers["fomm"].config.frame_size
    seconds, first = alternate_steps(runs, _random_batch(batch, size), steps, warmup, "families")
    rows = []
    for family, trainer in trainers.items():
        row = {"family": family, "config": FAMILY_CONFIGS[family], "batch": batch, "size": trainer.config.frame_size,
               "seconds": seconds[family], "vs_fomm": seconds[family] / seconds["fomm"], "authors": None,
               "difference": None}
        if family == "tpsmm" and authors is not None:
            theirs, ours = first["tpsmm (authors')"], first["tpsmm"]
            row["authors"] = seconds["tpsmm (authors')"]
            row["difference"] = max(abs(theirs[k] - ours[k]) for k in ours)
        rows.append(row)
    return rows


def print_family_rows(rows: list[dict]) -> None:
    print(f"\none training step per family, golden tiny configs, steps alternating ({cpu_description()})")
    print(f"{'family':<6} {'config':<16} {'frames':>8} {'s/step':>7} {'x FOMM':>7} {'authors s/step':>15} "
          f"{'speed-up':>9} {'|Δ loss|':>9}")
    for r in rows:
        authors = "-" if r["authors"] is None else f"{r['authors']:.3f}"
        speedup = "-" if r["authors"] is None else f"{r['authors'] / r['seconds']:.2f}x"
        difference = "-" if r["difference"] is None else f"{r['difference']:.1e}"
        print(f"{r['family']:<6} {r['config']:<16} {r['batch']:>2}x{r['size']:<5} {r['seconds']:>7.3f} "
              f"{r['vs_fomm']:>6.2f}x {authors:>15} {speedup:>9} {difference:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="tiny,anchor,vox-256", help="comma-separated: tiny, anchor, vox-256")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per side (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--vox-size", type=int, default=256, help="frame size for vox-256 (default 256)")
    parser.add_argument("--quick", action="store_true", help="3 steps, vox-256 at 128 px")
    parser.add_argument("--variants", default="", metavar="CONFIGS",
                        help="also time our step in fp32 vs channels-last vs bf16 on these comma-separated configs "
                             "(tiny, anchor, vox-256, synthetic-64, synthetic-64-parts)")
    parser.add_argument("--families", action="store_true",
                        help="also time one step of FOMM's, TPSMM's and MRAA's trainers on their golden tiny configs "
                             "(and the authors' TPSMM step when TPSMM_REPO names a copy of their code)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.vox_size = 3, 128
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vgg = Vgg19()
    names = [n for n in args.configs.split(",") if n and n != "none"]
    variant_names = [n for n in args.variants.split(",") if n]
    available = configs(args.vox_size, set(names + variant_names))
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f} at start, "
          f"median of {args.steps} steps after {args.warmup} warm-up", flush=True)
    print(cpu_description())
    rows = [bench(name, available[name], args.steps, args.warmup, vgg) for name in names]
    if rows:
        print(f"{'config':<9} {'frames':>9} {'GAN':>4} {'naive s/step':>13} {'ours s/step':>12} {'speed-up':>9} "
              f"{'|Δ loss|':>9}")
    for r in rows:
        print(f"{r['config']:<9} {r['batch']:>3}x{r['size']:<5} {'on' if r['gan'] else 'off':>4} {r['naive']:>13.3f} "
              f"{r['ours']:>12.3f} {r['naive'] / r['ours']:>8.2f}x {r['loss_difference']:>9.1e}")
    variant_rows = [row for name in variant_names
                    for row in bench_variants(name, available[name], args.steps, args.warmup, vgg)]
    if variant_rows:
        print(f"\nour step, variants against fp32 in the same run ({cpu_description()})")
        print(f"{'config':<13} {'frames':>9} {'variant':<33} {'s/step':>7} {'vs fp32':>8} {'|Δ loss| rel':>12}")
        for r in variant_rows:
            print(f"{r['config']:<13} {r['batch']:>3}x{r['size']:<5} {r['variant']:<33} {r['seconds']:>7.3f} "
                  f"{r['ratio']:>7.2f}x {r['difference']:>12.1e}")
    if args.families:
        print_family_rows(bench_families(args.steps, args.warmup, vgg))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
