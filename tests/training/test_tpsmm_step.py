"""TPSMM training against the authors' trainer: one step on a fixed batch with their random draws gives
their losses, their clipped gradients and their batch-norm statistics (``tests/fixtures/
tpsmm-train-step.npz``, made by ``tests/fixtures/make_tpsmm_train_step.py`` from their MIT code); the
dropout schedule is theirs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from fomm.families import get_family
from fomm.training.families.tpsmm import TPSMMTrainer, dropout_probability

from .helpers import RandomPairs
from .tpsmm_step import CASES, FIXTURE, batch, build_ours, fingerprints, fixture_config


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(FIXTURE))


def assert_fingerprints_close(got: np.ndarray, want: np.ndarray, key: str) -> None:
    """Each tensor's sum and absolute sum within 2e-3 of its absolute sum plus 2e-5 of the network's
    largest (the forward passes agree to the bit; the backward passes differ in float32 rounding,
    e.g. TPS's ``torch.linalg.solve`` against their ``torch.inverse``, which tensors whose gradient is
    ~0, such as conv biases before instance norm, show as large relative errors); squared sums within
    0.5%. A missing or mis-weighted loss term, clipping or detach moves them by far more."""
    scale = want[:, 1:2]
    tolerance = 2e-3 * scale + 2e-5 * scale.max()
    assert (np.abs(got[:, :2] - want[:, :2]) <= tolerance + 1e-12).all(), (key, got[:, :2], want[:, :2])
    np.testing.assert_allclose(got[:, 2], want[:, 2], rtol=5e-3, atol=1e-6 * want[:, 2].max() + 1e-15, err_msg=key)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_one_step_matches_the_authors_trainer(case, expected, tmp_path):
    epoch, seed = CASES[case]
    ours, vgg = build_ours()
    trainer = TPSMMTrainer(ours.config, RandomPairs(2, 64), tmp_path, vgg=vgg, tensorboard=False, visualize=False)
    for name, net in ours.networks().items():  # the weights of the fixture (built under seed 0)
        getattr(trainer.model, name).load_state_dict(net.state_dict())
    trainer.epoch = epoch
    source, driving = batch()
    torch.manual_seed(seed)
    losses, _ = trainer.train_step(source, driving)
    names = {k.removeprefix(f"case{case}_loss_") for k in expected if k.startswith(f"case{case}_loss_")}
    assert set(losses) == names
    for name in names:
        assert float(losses[name]) == pytest.approx(float(expected[f"case{case}_loss_{name}"]), rel=1e-5, abs=1e-6)
    for key, value in fingerprints(trainer.model.networks()).items():
        assert_fingerprints_close(value, expected[f"case{case}_{key}"], key)
    shapes = [p.numel() for p in trainer.optimizers["optimizer"].param_groups[0]["params"]]
    assert shapes == expected["optimizer_shapes"].tolist()  # their one group, in their order


def test_dropout_schedule_is_the_authors():
    tp = get_family("tpsmm").parse_config(copy.deepcopy(fixture_config())).train_params
    tp.dropout_epoch, tp.dropout_inc_epoch, tp.dropout_startp, tp.dropout_maxp = 35, 10, 0.1, 0.3
    assert [dropout_probability(tp, e) for e in (0, 5, 10, 34, 35)] == pytest.approx([0.1, 0.25, 0.3, 0.3, None])
