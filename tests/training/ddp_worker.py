"""Run by ``torchrun --nproc_per_node 2`` in test_distributed.py: ``fomm train`` arguments in, and each
rank's final weights and optimizer state saved as ``<out>/rank<N>.pt`` for the test to compare."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from fomm.cli.main import build_parser
from fomm.cli.train import train_from_args
from fomm.training import distributed


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    args = build_parser().parse_args(["train", *argv])
    trainer, result = train_from_args(args)
    state = {"model": trainer.model.state_dict(),
             "optimizer_generator": trainer.optimizers["generator"].state_dict(),
             "steps": result.steps, "world_size": trainer.ctx.world_size}
    torch.save(state, Path(args.out) / f"rank{trainer.ctx.rank}.pt")
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
