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


# The networks whose gradients flow back through the TPS solve of the keypoints.
UPSTREAM_OF_TPS = ("grad_kp_detector", "grad_dense_motion_network", "grad_bg_predictor")


def assert_fingerprints_close(got: np.ndarray, want: np.ndarray, key: str) -> None:
    """Each tensor's sum and absolute sum within 5e-3 of its absolute sum plus 2e-5 of the network's
    largest (the forward passes agree to 1e-5; the backward passes differ in float32 rounding, which
    tensors whose gradient is ~0, such as conv biases before instance norm, show as large relative
    errors); squared sums within 2% (0.5% and 2e-3 held on AVX2 and AVX-512 CPUs, and failed on an AMX
    Xeon by 1.3% and 3e-3 on one tensor each). A missing or mis-weighted loss term, clipping or detach moves
    them by far more.

    Upstream of the TPS solve (keypoint detector, dense motion, background predictor) the backward pass
    of this random-weight model is chaotic in float32: our own step with NHWC convolutions instead of
    NCHW (the same arithmetic summed in another order) moves single keypoint-detector gradients by 15%
    and the network's squared norm by 14%, and a per-tensor bound that held on one CPU failed on the
    next (docs/testing.md). There the network's totals are held instead: absolute sum within 10%,
    squared sum within 25%."""
    if key in UPSTREAM_OF_TPS:
        np.testing.assert_allclose(got[:, 1].sum(), want[:, 1].sum(), rtol=0.10, err_msg=f"{key} absolute sum")
        np.testing.assert_allclose(got[:, 2].sum(), want[:, 2].sum(), rtol=0.25, err_msg=f"{key} squared sum")
        return
    scale = want[:, 1:2]
    tolerance = 5e-3 * scale + 2e-5 * scale.max()
    assert (np.abs(got[:, :2] - want[:, :2]) <= tolerance + 1e-12).all(), (key, got[:, :2], want[:, :2])
    np.testing.assert_allclose(got[:, 2], want[:, 2], rtol=2e-2, atol=1e-6 * want[:, 2].max() + 1e-15, err_msg=key)


def _step(case: int, tmp_path):
    epoch, seed = CASES[case]
    ours, vgg = build_ours()
    trainer = TPSMMTrainer(ours.config, RandomPairs(2, 64), tmp_path, vgg=vgg, tensorboard=False, visualize=False)
    for name, net in ours.networks().items():  # the weights of the fixture (built under seed 0)
        getattr(trainer.model, name).load_state_dict(net.state_dict())
    trainer.epoch = epoch
    source, driving = batch()
    torch.manual_seed(seed)
    losses, _ = trainer.train_step(source, driving)
    return trainer, losses


@pytest.mark.parametrize("case", range(len(CASES)))
def test_one_step_matches_the_authors_trainer(case, expected, tmp_path):
    trainer, losses = _step(case, tmp_path)
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
