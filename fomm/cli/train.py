"""``fomm train --config NAME|PATH --data DIR --out DIR``: train (or resume, or fine-tune) a model.

Under ``torchrun --nproc_per_node N -m fomm train ...`` the same command trains with
DistributedDataParallel; only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..api import resolve_model
from ..checkpoints import Checkpoint, read_checkpoint
from ..config import Config, ConfigError, load_config, parse_config
from ..io.outputs import PARTIAL_PATTERN, check_folder_output, clear_folder, mark_folder
from .common import (
    CLIError,
    add_precision_argument,
    device_from_arg,
    non_negative_int,
    positive_float,
    positive_int,
    user_errors,
)

if TYPE_CHECKING:
    import torch

    from ..training.trainer import Trainer, TrainResult

# What a previous run leaves in its output folder (removed by --overwrite; nothing else is touched).
RUN_FILES = ("log.txt", "config.yaml", "*-checkpoint.pth.tar", "events.out.tfevents.*", "train-vis")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a model on a dataset of videos",
        description="Train FOMM on DATA (train/ and test/ folders of videos) and write checkpoints, log.txt, "
                    "train-vis/ pictures and TensorBoard logs to OUT. Ctrl-C stops cleanly with a checkpoint; "
                    "resume with --checkpoint OUT.")
    p.add_argument("--config", metavar="NAME|PATH",
                   help="config preset (vox-256, ...) or YAML; default: the config stored in --checkpoint")
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
def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key.path=value`` overrides (YAML values) to a config given as plain data.

    Keys are validated afterwards by :func:`fomm.config.parse_config`, which names unknown keys.
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. train_params.num_epochs=3), got {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item}: the value is not valid YAML ({exc})") from None
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item}: '{'.'.join(parts[:depth + 1])}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def build_config(args: argparse.Namespace, checkpoint: Checkpoint | None) -> Config:
    """The run's config: --config (else the checkpoint's), then --set, --data, --epochs, --batch-size."""
    if args.config is not None:
        base = load_config(args.config)
    elif checkpoint is not None and checkpoint.config is not None:
        base = checkpoint.config
    else:
        what = "the checkpoint stores none" if checkpoint is not None else "no --checkpoint to take it from"
        raise CLIError(f"give --config (a preset such as vox-256, or a YAML file); {what}")
    data = apply_overrides(base.to_dict(), args.overrides)
    if args.data is not None:
        data["dataset_params"]["root_dir"] = str(args.data)
    if args.epochs is not None:
        data["train_params"]["num_epochs"] = args.epochs
    if args.batch_size is not None:
        data["train_params"]["batch_size"] = args.batch_size
    try:
        return parse_config(data)
    except ConfigError as exc:
        if args.overrides:
            raise ConfigError(f"{exc} (after --set {' --set '.join(args.overrides)})") from None
        raise


def _prepare_out(out: Path, resuming: bool, overwrite: bool, inputs: tuple = ()) -> None:
    """Make ``out`` ready for the run: a new or empty folder, the run being resumed, or with --overwrite
    a previous run's folder (marked by fomm, or holding nothing but RUN_FILES) whose run files are
    removed. A folder holding anything else, or one of the run's inputs, is refused."""
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} is a file; give a folder")
    if resuming and out.is_dir():
        return
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise CLIError(f"--out {out} is not empty: give a new folder, resume with --checkpoint {out}, or pass "
                           "--overwrite to replace the previous run")
        check_folder_output(out, overwrite=True, inputs=inputs, legacy=RUN_FILES, option="--out")
        clear_folder(out, (*RUN_FILES, PARTIAL_PATTERN))
    out.mkdir(parents=True, exist_ok=True)
    mark_folder(out, "fomm train")


def _resumed(checkpoint: Checkpoint | None, key: str):
    """The resumed run's setting ``key`` from its training state; None without one."""
    from ..training.state import STATE_KEY

    state = checkpoint.extra.get(STATE_KEY) if checkpoint is not None else None
    return state.get(key) if isinstance(state, dict) else None


def _precision(args: argparse.Namespace, checkpoint: Checkpoint | None, device: torch.device) -> str:
    """--precision (or its older name --amp), else the resumed checkpoint's (an exact resume needs the same
    numerics), else fp32."""
    if args.precision is not None:
        return args.precision
    if args.amp is not None:
        return "fp32" if args.amp == "off" else args.amp
    precision = _resumed(checkpoint, "amp") or "fp32"  # stored under its older name
    if precision == "fp16" and device.type != "cuda":
        raise CLIError(f"the checkpoint was trained in fp16, which needs a CUDA GPU (the device is {device.type}): "
                       "pass --precision bf16 or --precision fp32 (--amp bf16 or --amp off) to resume here")
    return precision


def _fused_adam(args: argparse.Namespace, checkpoint: Checkpoint | None) -> bool:
    """--fused-adam/--no-fused-adam, else the resumed checkpoint's setting (off for a new run)."""
    return args.fused_adam if args.fused_adam is not None else bool(_resumed(checkpoint, "fused_adam"))


# ------------------------------------------------------------------------------ running
def _weights(name_or_path: str, option: str) -> Path:
    """The checkpoint file (or run folder) a model name or path gives; a preset has no weights."""
    source = resolve_model(name_or_path)
    if source.path is None:
        raise CLIError(f"{option} {name_or_path}: a preset has no weights to start from; give a checkpoint file, "
                       "a run folder or 'default' (the bundled model), and the preset with --config")
    return source.path


def train_from_args(args: argparse.Namespace) -> tuple[Trainer, TrainResult]:
    """Build everything from the parsed arguments and train (also used by the distributed tests)."""
    import torch
    from tqdm import tqdm

    from ..data.datasets import make_dataset
    from ..training import distributed
    from ..training.trainer import Trainer, format_log_line, latest_checkpoint
    from ..training.vgg import load_vgg19

    out = Path(args.out)
    device = device_from_arg(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    # Denormal floats (values that shrink towards zero as training settles) are slow on x86 CPUs: the
    # bundled recipe's steps slowed from 2.0 to 1.5 a second over 10 epochs; flushing them to zero made
    # a step 1.5-1.7x faster (0.57-0.64 -> 0.37-0.39 CPU s, real batches, epoch-10 weights).
    torch.set_flush_denormal(True)
    ctx = distributed.init_from_env(device.type)
    checkpoint = None
    if args.checkpoint is not None:
        path = _weights(args.checkpoint, "--checkpoint")
        checkpoint = read_checkpoint(latest_checkpoint(path) if path.is_dir() else path)
    finetune = _weights(args.finetune, "--finetune") if args.finetune is not None else None
    config = build_config(args, checkpoint)
    if ctx.is_main:
        with user_errors():
            _prepare_out(out, resuming=checkpoint is not None, overwrite=args.overwrite,
                         inputs=(args.finetune, args.data, args.config, args.vgg))
    dataset = make_dataset(config, is_train=True)
    vgg = None
    if any(config.train_params.loss_weights.perceptual):
        vgg = load_vgg19(args.vgg, allow_random=args.vgg_random, download=not args.vgg_random)
    trainer = Trainer(config, dataset, out, device=args.device, vgg=vgg, num_workers=args.workers, seed=args.seed,
                      precision=_precision(args, checkpoint, device), max_steps=args.max_steps,
                      max_minutes=args.max_minutes, channels_last=args.channels_last,
                      fused_adam=_fused_adam(args, checkpoint))
    if checkpoint is not None:
        trainer.resume(checkpoint)
    if finetune is not None:
        skipped = trainer.finetune(finetune)
        if skipped and trainer.ctx.is_main:
            print(f"fine-tune: {len(skipped)} tensors of {args.finetune} did not fit the config and were skipped",
                  file=sys.stderr)
    main = trainer.ctx.is_main
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
            trainer, result = train_from_args(args)
    finally:
        distributed.shutdown()
    if trainer.ctx.is_main:
        rate = result.steps / result.seconds if result.seconds > 0 else float("inf")
        stopped = f", stopped by {result.stop_reason.replace('_', '-')}" if result.stop_reason else ""
        where = f"epoch {result.epoch}" + (f" batch {result.batch}/{trainer.steps_per_epoch}" if result.batch else "")
        print(f"{result.steps} steps in {result.seconds:.1f} s ({rate:.2f} steps/s, {where}{stopped}) "
              f"-> {result.checkpoint}")
    return 130 if result.stop_reason == "interrupted" else 0
