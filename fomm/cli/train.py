"""``fomm train --config NAME|PATH --data DIR --out DIR``: train (or resume, or fine-tune) a model.

A thin layer over :func:`fomm.training.prepare_training`: the options become the run's config and the
library's keywords; the command adds the progress bar and the summary line.

Under ``torchrun --nproc_per_node N -m fomm train ...`` the same command trains with
DistributedDataParallel; only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..checkpoints import Checkpoint
from ..config import ConfigError, apply_overrides
from .common import (
    CLIError,
    add_precision_argument,
    device_from_arg,
    non_negative_int,
    positive_float,
    positive_int,
    user_errors,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a model on a dataset of videos",
        description="Train a model (FOMM, TPSMM or MRAA, by the config) on DATA (train/ and test/ folders of videos) "
                    "and write checkpoints, log.txt, "
                    "train-vis/ pictures and TensorBoard logs to OUT. Ctrl-C stops cleanly with a checkpoint; "
                    "resume with --checkpoint OUT.")
    p.add_argument("--config", metavar="NAME|PATH",
                   help="config preset (vox-256, tpsmm-vox-256, mraa-vox-256, ...) or YAML of any family; default: "
                        "the config stored in --checkpoint")
    p.add_argument("--stage", choices=("reconstruction", "avd"), default="reconstruction",
                   help="reconstruction (default): the motion and generation networks; avd: the animation-via-"
                        "disentanglement network on the frozen networks of --checkpoint (train_avd_params), saved "
                        "with them as avd_network / optimizer_avd in a new --out folder; --checkpoint of an AVD run "
                        "resumes it (in its own folder)")
    p.add_argument("--data", metavar="DIR", help="dataset root (sets dataset_params.root_dir)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder for the run")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--checkpoint", metavar="PATH",
                       help="resume from this checkpoint (or the furthest one in a run folder): networks, "
                            "optimizers, schedulers, loss scale, position and random state; training goes on at "
                            "the exact next batch, as if it had never stopped")
    start.add_argument("--finetune", metavar="PATH",
                       help="start from the weights of this checkpoint whose names and shapes match the config "
                            "(fresh optimizers, epoch 0); the skipped ones are listed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a config value, e.g. --set train_params.num_repeats=10 --set "
                        "train_params.scales='[1, 0.5]' (YAML values; repeatable)")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="train_params.num_epochs")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="train_params.batch_size (the global batch; split among torchrun processes)")
    p.add_argument("--max-steps", type=positive_int, metavar="N", help="stop after N steps with a checkpoint")
    p.add_argument("--max-minutes", type=positive_float, metavar="M",
                   help="stop after M minutes with a checkpoint")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps; default: CUDA, then MPS, then CPU")
    p.add_argument("--workers", type=non_negative_int, default=2, metavar="N",
                   help="data loader worker processes (default 2; 0 loads in the main process)")
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="CPU threads per process (torch.set_num_threads); default: PyTorch's choice. On a busy "
                        "machine fewer threads can be much faster")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed (default 0; a resumed run keeps its checkpoint's seed)")
    precision = p.add_mutually_exclusive_group()
    add_precision_argument(precision, default=None, default_text="fp32, and when resuming the checkpoint's "
                           "precision; bf16 trains on CPU or CUDA, fp16 on CUDA only")
    precision.add_argument("--amp", choices=("bf16", "fp16", "off"),
                           help="the older name of --precision: bf16, fp16, or off (= fp32)")
    p.add_argument("--channels-last", action="store_true",
                   help="channels-last (NHWC) memory format: faster steps on CPU (about 1.25x on AVX512)")
    p.add_argument("--fused-adam", action=argparse.BooleanOptionalAction,
                   help="Adam's fused kernel (all parameters in one pass; 0-4%% faster steps on CPU): its results "
                        "differ from the default Adam's in the last bit, so the run is not bit-identical to one "
                        "without it; default off, and when resuming the checkpoint's setting")
    vgg = p.add_mutually_exclusive_group()
    vgg.add_argument("--vgg", metavar="PATH",
                     help="torchvision's ImageNet VGG-19 weights (vgg19-dcbb9e9d.pth) for the perceptual loss; "
                          "default: the torch hub cache, else a download")
    vgg.add_argument("--vgg-random", action="store_true",
                     help="allow a randomly initialized VGG-19 when no weights are found (smoke tests, synthetic "
                          "data); no download is tried")
    p.add_argument("--overwrite", action="store_true",
                   help="reuse the folder of a previous fomm run, deleting its checkpoints, logs and pictures (a "
                        "folder holding other files, or an input such as the --finetune checkpoint, is refused)")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------ configuration
def build_config(args: argparse.Namespace, checkpoint: Checkpoint | None) -> Any:
    """The run's config (of the family it names): --config (else the checkpoint's), then --set, --data,
    --epochs, --batch-size (of train_avd_params with --stage avd)."""
    from ..families import config_family, read_config

    if args.config is not None:
        base = read_config(args.config)[1]
    elif checkpoint is not None and checkpoint.config is not None:
        base = checkpoint.config
    else:
        what = "the checkpoint stores none" if checkpoint is not None else "no --checkpoint to take it from"
        raise CLIError(f"give --config (a preset such as vox-256, or a YAML file); {what}")
    data = apply_overrides(base.to_dict(), args.overrides, name="--set")
    if args.data is not None:
        data["dataset_params"]["root_dir"] = str(args.data)
    section = "train_avd_params" if getattr(args, "stage", "reconstruction") == "avd" else "train_params"
    data.setdefault(section, {})  # a FOMM config without the AVD stage's section: its defaults
    if args.epochs is not None:
        data[section]["num_epochs"] = args.epochs
    if args.batch_size is not None:
        data[section]["batch_size"] = args.batch_size
    try:
        return config_family(base).parse_config(data)
    except ConfigError as exc:
        if args.overrides:
            raise ConfigError(f"{exc} (after --set {' --set '.join(args.overrides)})") from None
        raise


def _precision(args: argparse.Namespace) -> str | None:
    """--precision, or its older name --amp; None keeps the resumed run's (fp32 for a new run)."""
    if args.precision is not None:
        return args.precision
    if args.amp is not None:
        return "fp32" if args.amp == "off" else args.amp
    return None


# ------------------------------------------------------------------------------ running
def _train(args: argparse.Namespace):
    """Build the run from the parsed arguments through the library and train, with a progress bar."""
    import torch
    from tqdm import tqdm

    from ..training import prepare_training
    from ..training.logs import format_log_line
    from ..training.run import resume_checkpoint

    device_from_arg(args.device)  # a misspelt or unavailable device: one line, before any work
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    # Denormal floats (values that shrink towards zero as training settles) are slow on x86 CPUs: the
    # bundled recipe's steps slowed from 2.0 to 1.5 a second over 10 epochs; flushing them to zero made
    # a step 1.5-1.7x faster (0.57-0.64 -> 0.37-0.39 CPU s, real batches, epoch-10 weights).
    torch.set_flush_denormal(True)
    if args.stage == "avd" and args.checkpoint is None:
        raise CLIError("the AVD stage trains on the frozen networks of a reconstruction run: give its checkpoint "
                       "with --checkpoint RUN (a run folder or checkpoint file)")  # before --config is asked for
    checkpoint = resume_checkpoint(args.checkpoint) if args.checkpoint is not None else None
    config = build_config(args, checkpoint)
    trainer = prepare_training(
        config, Path(args.out), checkpoint=checkpoint, finetune=args.finetune, overwrite=args.overwrite,
        vgg=args.vgg, vgg_random=args.vgg_random, precision=_precision(args), fused_adam=args.fused_adam,
        inputs=(args.data, args.config), stage=args.stage, checkpoint_path=args.checkpoint, device=args.device,
        num_workers=args.workers, seed=args.seed, max_steps=args.max_steps, max_minutes=args.max_minutes,
        channels_last=args.channels_last)
    main = trainer.ctx.is_main
    if trainer.skipped_weights and main:
        print(f"fine-tune: {len(trainer.skipped_weights)} tensors of {args.finetune} did not fit the config and "
              "were skipped", file=sys.stderr)
    bar = tqdm(total=trainer.planned_steps, unit="step", dynamic_ncols=True, disable=not main)

    def on_step(step: int, losses: dict[str, float]) -> None:
        bar.set_description(f"epoch {trainer.epoch}", refresh=False)
        bar.update(1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)

    def on_epoch_end(epoch_index: int, losses: dict[str, float], path: Path | None) -> None:
        bar.write(format_log_line(epoch_index, losses), file=sys.stderr)

    try:
        result = trainer.fit(on_step=on_step, on_epoch_end=on_epoch_end)
    finally:
        bar.close()
    return trainer, result


def run(args: argparse.Namespace) -> int:
    from ..training import distributed

    try:
        with user_errors():
            trainer, result = _train(args)
    finally:
        distributed.shutdown()
    if trainer.ctx.is_main:
        rate = result.steps / result.seconds if result.seconds > 0 else float("inf")
        stopped = f", stopped by {result.stop_reason.replace('_', '-')}" if result.stop_reason else ""
        where = f"epoch {result.epoch}" + (f" batch {result.batch}/{trainer.steps_per_epoch}" if result.batch else "")
        print(f"{result.steps} steps in {result.seconds:.1f} s ({rate:.2f} steps/s, {where}{stopped}) "
              f"-> {result.checkpoint}")
    return 130 if result.stop_reason == "interrupted" else 0
