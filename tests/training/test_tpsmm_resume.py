"""TPSMM training resumes exactly: a run stopped anywhere (mid-epoch, and across the epoch where the
background predictor starts and the TPS dropout stops) ends with the weights, optimizer states, schedules
and log of an uninterrupted one; its checkpoints hold the authors' keys (``optimizer``,
``optimizer_bg_predictor``, ``epoch`` = the last completed epoch), which their ``Logger.load_cpk``
reads into their networks and optimizers."""

from __future__ import annotations

import pytest
import torch

from fomm.families.tpsmm.model import TPSMM
from fomm.training.families.tpsmm import TPSMMTrainer
from fomm.training.state import STATE_KEY

from .family_helpers import tpsmm_tiny
from .helpers import RandomPairs, assert_resumes_exactly

SIZE = 64
# What the authors' train.py saves (Logger.save_cpk of inpainting_network, kp_detector, dense_motion_network,
# bg_predictor and their two optimizers, plus epoch); our files add the config and the exact-resume state.
AUTHORS_KEYS = {"inpainting_network", "kp_detector", "dense_motion_network", "bg_predictor", "optimizer",
                "optimizer_bg_predictor", "epoch"}


def _trainer(out, vgg, **options) -> TPSMMTrainer:
    """2 epochs of 2 steps (4 random pairs, batch 2); TPS dropout in epoch 0 only, the background
    predictor trained from epoch 1: the epoch end changes the step."""
    config = tpsmm_tiny(SIZE, num_repeats=1)
    options = {"device": "cpu", "tensorboard": False, "visualize": False, "seed": 11, **options}
    return TPSMMTrainer(config, RandomPairs(4, SIZE, seed=3), out, vgg=vgg, **options)


@pytest.mark.slow
def test_stopped_and_resumed_tpsmm_run_equals_an_uninterrupted_one(tmp_path, vgg):
    """4 steps == 1 + resume + 2 (across the epoch end, where the background starts) + resume + 1."""
    assert_resumes_exactly(lambda out, **options: _trainer(out, vgg, **options), tmp_path, AUTHORS_KEYS, "tpsmm",
                           "epoch")


@pytest.mark.slow
def test_checkpoints_load_as_the_authors_load_cpk_reads_them(tmp_path, vgg):
    """Their Logger.load_cpk: ``torch.load``, strict ``load_state_dict`` of each network, then
    ``optimizer`` into Adam over inpainting + dense motion + keypoint parameters (one group, that order)
    and ``optimizer_bg_predictor`` into Adam over the bg predictor's; ``epoch`` an int."""
    result = _trainer(tmp_path / "run", vgg, max_steps=3).fit()  # into epoch 1: both optimizers stepped
    raw = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert set(raw) == AUTHORS_KEYS | {"config", STATE_KEY} and raw["epoch"] == 0
    theirs = TPSMM(tpsmm_tiny(SIZE), ("inpainting_network", "kp_detector", "dense_motion_network", "bg_predictor"))
    for name, net in theirs.networks().items():
        net.load_state_dict(raw[name])  # strict, as theirs
    groups = {"optimizer": [theirs.inpainting_network, theirs.dense_motion_network, theirs.kp_detector],
              "optimizer_bg_predictor": [theirs.bg_predictor]}
    for key, nets in groups.items():
        params = [p for net in nets for p in net.parameters()]
        optimizer = torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999), weight_decay=1e-4)
        optimizer.load_state_dict(raw[key])
        state = optimizer.state_dict()["state"]
        assert len(state) == len(params), key  # every parameter has its moments: all were stepped
        for index, param in enumerate(params):
            assert state[index]["exp_avg"].shape == param.shape, (key, index)
