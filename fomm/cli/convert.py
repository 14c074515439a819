"""``fomm convert IN OUT``: between the original .pth.tar format and .safetensors."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import load_model
from ..checkpoints import save_checkpoint
from ..io.outputs import check_file_output
from .common import user_errors


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint (.pth.tar <-> .safetensors)",
                       description="Rewrite a checkpoint in another format; the config travels with the weights.")
    p.add_argument("input", help="checkpoint to read")
    p.add_argument("output", help="file to write: .safetensors or .pth.tar")
    p.add_argument("--config", help="config name or YAML, when the checkpoint's own is not wanted")
    p.add_argument("--inference-only", action="store_true",
                   help="leave out the discriminator (only training needs it)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    with user_errors():
        check_file_output(out, overwrite=args.overwrite, inputs=(args.input, args.config))
        model = load_model(args.input, config=args.config, device="cpu", with_discriminator=not args.inference_only)
        save_checkpoint(out, model.networks(), model.config)
    print(f"wrote {out} ({', '.join(model.networks())})")
    return 0
