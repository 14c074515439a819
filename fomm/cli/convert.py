"""``fomm convert IN OUT``: between the original .pth.tar format and .safetensors. What the output
format can hold is kept (epoch, optimizer states, other training state); anything dropped is named."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io.outputs import check_file_output
from .common import CLIError, user_errors

CHECKPOINT_SUFFIXES = (".safetensors", ".pth.tar", ".pth", ".pt", ".tar", ".ckpt")


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint (.pth.tar <-> .safetensors)",
                       description="Rewrite a checkpoint in another format; the config travels with the weights.")
    p.add_argument("input", help="checkpoint to read")
    p.add_argument("output", help="file to write: .safetensors or .pth.tar")
    p.add_argument("--config", help="config name or YAML, when the checkpoint's own is not wanted")
    p.add_argument("--inference-only", action="store_true",
                   help="keep only what animation needs: leave out the discriminator, the optimizer states and "
                        "the training state (each dropped item is named)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import load_model
    from ..api import DEFAULT_MODEL, default_checkpoint_path
    from ..checkpoints import read_checkpoint, save_checkpoint

    out = Path(args.output)
    if not out.name.endswith(CHECKPOINT_SUFFIXES):
        raise CLIError(f"cannot write {out}: a checkpoint is .safetensors or .pth.tar (also .pth, .pt); "
                       "give one of these extensions")
    with user_errors():
        check_file_output(out, overwrite=args.overwrite, inputs=(args.input, args.config))
        model = load_model(args.input, config=args.config, device="cpu", with_discriminator=not args.inference_only)
        source = default_checkpoint_path() if args.input == DEFAULT_MODEL else Path(args.input)
        ckpt = read_checkpoint(source) if source.is_file() else None  # None: a preset's untrained weights
        networks = model.networks()
        epoch, optimizers, extra, dropped = _what_to_keep(ckpt, networks, out, args.inference_only)
        save_checkpoint(out, networks, model.config, epoch=epoch, optimizers=optimizers, extra=extra,
                        epoch_key=ckpt.epoch_key if ckpt is not None else "epoch")
    for name, why in dropped:
        print(f"fomm convert: dropped {name}: {why}", file=sys.stderr)
    kept = [*networks, *optimizers, *extra] + ([f"epoch {epoch}"] if epoch is not None else [])
    print(f"wrote {out} ({', '.join(kept)})")
    return 0


def _what_to_keep(ckpt, networks: dict, out: Path, inference_only: bool):
    """Everything of ``ckpt`` the output can hold: (epoch, optimizers, extra, [(dropped, why), ...]).

    A .pth.tar keeps the epoch, the optimizer states and any other training state (schedulers, ...)
    unless ``inference_only``; a .safetensors file holds tensors (and the epoch) only."""
    if ckpt is None:
        return None, {}, {}, []
    dropped = [(name, "--inference-only keeps the networks for animation only") for name in ckpt.state_dicts
               if name not in networks]
    if inference_only:
        why = "--inference-only keeps the networks for animation only"
    elif out.suffix == ".safetensors":
        why = "a .safetensors file holds weights only; write a .pth.tar to keep it"
    else:
        return ckpt.epoch, dict(ckpt.optimizers), dict(ckpt.extra), dropped
    dropped += [(name, why) for name in [*ckpt.optimizers, *ckpt.extra]]
    return ckpt.epoch, {}, {}, dropped
