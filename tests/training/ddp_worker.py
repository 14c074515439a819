"""Run by ``torchrun --nproc_per_node 2`` in test_distributed.py: ``fomm train`` arguments in; each rank
saves ``<out>/rank<N>.pt`` with its final weights and optimizer state, the weights it started from, the
dataset indices it loaded, and per step the frames it trained on and torch's random state before the
step (the equivariance transform's draws), so that the test can replay the run in one process."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from fomm.cli.main import main as fomm_main
from fomm.data.datasets import DatasetRepeater
from fomm.training import distributed
from fomm.training import trainer as trainer_module

INDICES: list[int] = []
STEPS: list[dict] = []
INITIAL: dict = {}


class RecordingRepeater(DatasetRepeater):
    """The trainer's dataset repeater, noting each index the loader asks for."""

    def __getitem__(self, index: int) -> dict:
        INDICES.append(int(index))
        return super().__getitem__(index)


def _recording(train_step):
    def step(self, source, driving):
        if not STEPS:
            INITIAL.update({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        STEPS.append({"rng": torch.get_rng_state(), "source": source.clone(), "driving": driving.clone()})
        return train_step(self, source, driving)

    return step


def _keeping(fit, ran: list):
    def kept(self, *args, **kwargs):
        result = fit(self, *args, **kwargs)
        ran.append((self, result))
        return result

    return kept


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    trainer_module.DatasetRepeater = RecordingRepeater
    from fomm.training.families.mraa import MRAATrainer
    from fomm.training.families.tpsmm import TPSMMTrainer

    for cls in (trainer_module.Trainer, TPSMMTrainer, MRAATrainer):  # each family's own step
        cls.train_step = _recording(cls.train_step)
    ran: list = []
    trainer_module.Trainer.fit = _keeping(trainer_module.Trainer.fit, ran)
    assert fomm_main(["train", *argv]) == 0  # the command itself, under torchrun
    (trainer, result), = ran
    out = Path(argv[argv.index("--out") + 1])
    state = {"model": trainer.model.state_dict(), "initial": INITIAL,
             "optimizers": {name: optimizer.state_dict() for name, optimizer in trainer.optimizers.items()},
             "steps": result.steps, "world_size": trainer.ctx.world_size, "indices": INDICES, "batches": STEPS}
    torch.save(state, out / f"rank{trainer.ctx.rank}.pt")
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
