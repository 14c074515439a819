"""The training state against what a resumed run can see (issue 30): the restored RNG states are the
ones the stopped run had, every field of the state survives a ``weights_only`` file, and the seeds
derived from (seed, epoch, position) are distinct and reproducible.

Planted bug caught: ``Trainer.load_training_state`` not calling ``restore_rng`` (a resumed run's own
random draws then come from the constructor's seed, not from where the run stopped) ->
``test_resume_puts_back_the_random_generators_of_the_stopped_run``.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from fomm.config import parse_config
from fomm.training.state import (
    STATE_KEY,
    STATE_VERSION,
    TrainingState,
    capture_rng,
    derived_seed,
    restore_rng,
    seed_everything,
)
from fomm.training.trainer import Trainer

from .helpers import RandomPairs, tiny_config_dict


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_resume_puts_back_the_random_generators_of_the_stopped_run(tmp_path):
    """What a callback or a user's code draws after ``resume`` continues the stopped run's streams
    (the state saved with its checkpoint), not the new trainer's seed."""
    config = parse_config(tiny_config_dict(perceptual=[0] * 5, reconstruction_l1=1))
    options = dict(device="cpu", tensorboard=False, visualize=False, seed=3)
    stopped = Trainer(config, RandomPairs(), tmp_path, max_steps=1, **options).fit()
    saved = torch.load(stopped.checkpoint, weights_only=True)[STATE_KEY]["rng"]
    restore_rng(saved)
    expected = _draws()  # what the stopped run would have drawn next
    seed_everything(12345)
    resumed = Trainer(config, RandomPairs(), tmp_path, **options)  # seeds everything with 3 again
    fresh = capture_rng()
    resumed.resume(stopped.checkpoint)
    assert _draws() == expected
    restore_rng(fresh)
    assert _draws() != expected  # the constructor's seed alone would not give them


def test_rng_parts_a_state_lacks_are_left_alone():
    seed_everything(1)
    state = capture_rng()
    from_one = _draws()
    seed_everything(2)
    from_two = _draws()
    seed_everything(2)
    restore_rng({"numpy": state["numpy"], "torch": state["torch"]})
    assert _draws() == (from_two[0], *from_one[1:])  # python's generator kept its own state
    seed_everything(2)
    restore_rng({"python": state["python"]})
    assert _draws() == (from_one[0], *from_two[1:])


def test_restore_sets_each_generator_and_a_gaussian_pending():
    seed_everything(4)
    random.gauss(0, 1)  # Python's gauss keeps a second value for the next call
    np.random.standard_normal()  # numpy's legacy generator keeps one too
    state = capture_rng()
    expected = (random.gauss(0, 1), float(np.random.standard_normal()), float(torch.randn(())))
    seed_everything(5)
    restore_rng(state)
    assert (random.gauss(0, 1), float(np.random.standard_normal()), float(torch.randn(()))) == expected


def test_seed_everything_seeds_every_generator_and_big_seeds_wrap():
    seed_everything(2**40 + 9)
    first = _draws()
    random.seed(2**40 + 9), np.random.seed((2**40 + 9) % 2**32), torch.manual_seed(2**40 + 9)
    assert _draws() == first
    seed_everything(10)
    assert _draws() != first
    seed_everything(2**32 + 5)  # numpy takes 32-bit seeds: the low word
    assert float(np.random.rand()) == float(np.random.RandomState(5).rand())


def test_derived_seeds_are_reproducible_distinct_and_in_range():
    seeds = {derived_seed(7, epoch, position) for epoch in range(3) for position in range(50)}
    assert len(seeds) == 150 and all(0 <= s < 2**63 for s in seeds)
    assert derived_seed(7, 1, 2) == derived_seed(7, 1, 2) != derived_seed(7, 2, 1)
    assert derived_seed(-1) == derived_seed(2**64 - 1)  # negatives wrap like unsigned 64-bit words
    assert derived_seed(3, 2**64 + 5) == derived_seed(3, 5)
    assert int(np.random.SeedSequence([7, 1, 2]).generate_state(1, dtype=np.uint64)[0]) % 2**63 == \
        derived_seed(7, 1, 2)  # numpy's documented mixing, not an ad-hoc hash


def _full_state() -> TrainingState:
    scheduler = torch.optim.lr_scheduler.MultiStepLR(torch.optim.Adam([torch.zeros(1, requires_grad=True)]), [3, 5])
    return TrainingState(epoch=4, batch=2, global_step=42, seed=9, precision="bf16", vgg="random (seed 9)",
                         fused_adam=True,
                         optimizers={"generator": {"state": {}, "param_groups": []}},
                         schedulers={"generator": scheduler.state_dict()}, scalers={"generator": {"scale": 8.0}},
                         rng=capture_rng(), data={"items": 8, "batch_size": 2, "world_size": 1},
                         epoch_losses={"perceptual": 1.5}, epoch_batches=1)  # 1 of its 2 batches logged


def test_every_field_survives_a_weights_only_file(tmp_path):
    state = _full_state()
    entry = state.to_checkpoint()
    assert entry["version"] == STATE_VERSION and entry["amp"] == "bf16"
    assert "optimizers" not in entry  # stored under the authors' keys
    assert type(entry["schedulers"]["generator"]["milestones"]) is dict  # a Counter is refused by weights_only
    torch.save({STATE_KEY: entry, "optimizer_generator": state.optimizers["generator"]}, tmp_path / "c.pth")
    raw = torch.load(tmp_path / "c.pth", weights_only=True)
    back = TrainingState.from_checkpoint(raw[STATE_KEY], {"optimizer_generator": raw["optimizer_generator"]})
    assert back.optimizers == state.optimizers and back.scalers == state.scalers
    assert back.schedulers["generator"]["milestones"] == Counter({3: 1, 5: 1})
    assert type(back.schedulers["generator"]["milestones"]) is Counter  # as MultiStepLR holds it (.elements())
    assert back.schedulers == state.schedulers
    for name in ("epoch", "batch", "global_step", "seed", "precision", "vgg", "fused_adam", "data", "epoch_losses",
                 "epoch_batches"):
        assert getattr(back, name) == getattr(state, name), name
    assert back.completed_epoch == 3
    assert torch.equal(back.rng["torch"], state.rng["torch"])
    assert back.rng["numpy"]["pos"] == state.rng["numpy"]["pos"]


def test_an_older_entry_gets_the_defaults_and_a_newer_one_is_refused():
    old = TrainingState.from_checkpoint({"epoch": 1, "batch": 3, "global_step": 7})
    assert (old.seed, old.precision, old.fused_adam, old.epoch_batches, old.vgg) == (0, "fp32", False, 3, None)
    assert old.rng == {} and old.schedulers == {}
    assert old.completed_epoch == 0 and old.optimizers == {}
    assert TrainingState().completed_epoch == -1
    with pytest.raises(ValueError) as caught:
        TrainingState.from_checkpoint({"version": STATE_VERSION + 1, "epoch": 0, "batch": 0, "global_step": 0})
    assert str(caught.value) == (f"training state version {STATE_VERSION + 1} is newer than this fomm reads "
                                 f"({STATE_VERSION}); update fomm to resume this run")
    same = TrainingState.from_checkpoint({"version": STATE_VERSION, "epoch": 0, "batch": 0, "global_step": 0})
    assert same.epoch == 0


class FakeCuda:
    """torch.cuda on a machine with ``count`` GPUs whose generator states are ``states``."""

    def __init__(self, count: int, states: list[torch.Tensor]):
        self.count, self.states, self.set = count, states, []

    def install(self, monkeypatch, initialized: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: initialized)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: self.count)
        monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: list(self.states))
        monkeypatch.setattr(torch.cuda, "set_rng_state_all", self.set.append)


def test_the_gpu_generators_are_saved_once_cuda_is_in_use_and_put_back_on_as_many_gpus(monkeypatch):
    states = [torch.tensor([1, 2, 3], dtype=torch.uint8), torch.tensor([4, 5, 6], dtype=torch.uint8)]
    cuda = FakeCuda(2, states)
    cuda.install(monkeypatch, initialized=False)
    assert "cuda" not in capture_rng()  # CUDA not started: asking would start it
    cuda.install(monkeypatch)
    saved = capture_rng()
    assert [t.tolist() for t in saved["cuda"]] == [[1, 2, 3], [4, 5, 6]]
    restore_rng(saved)
    assert [[t.tolist() for t in call] for call in cuda.set] == [[[1, 2, 3], [4, 5, 6]]]
    other = FakeCuda(1, states)  # resumed on a machine with another number of GPUs: left as they are
    other.install(monkeypatch)
    restore_rng(saved)
    assert other.set == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # resumed without a GPU
    restore_rng(saved)
    assert other.set == []


def test_fp32_is_stored_as_no_amp_like_the_runs_before_precision_existed(tmp_path):
    assert TrainingState(precision="fp32").to_checkpoint()["amp"] is None
    assert TrainingState(precision="fp16").to_checkpoint()["amp"] == "fp16"
    assert TrainingState.from_checkpoint({"epoch": 0, "batch": 0, "global_step": 0, "amp": None}).precision == "fp32"


def test_a_scheduler_without_milestones_comes_back_as_it_was():
    step = torch.optim.lr_scheduler.StepLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), 2)
    entry = TrainingState(schedulers={"kp_detector": step.state_dict()}).to_checkpoint()
    back = TrainingState.from_checkpoint(entry)
    assert back.schedulers["kp_detector"] == step.state_dict() and "milestones" not in back.schedulers["kp_detector"]


def test_a_state_without_gpu_generators_leaves_them_alone_on_a_gpu_machine(monkeypatch):
    cuda = FakeCuda(1, [torch.tensor([7], dtype=torch.uint8)])
    cuda.install(monkeypatch)
    restore_rng({"torch": torch.get_rng_state()})  # saved on a CPU-only machine, resumed on a GPU
    assert cuda.set == []
