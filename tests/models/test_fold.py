"""Batch-norm folding (``fomm.models.fold``): the folded copy computes what the model computes, on
the golden tiny checkpoint, and the model, its parameters and its state_dict stay as they were."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import fomm
from fomm.models import Keypoints
from fomm.models.blocks import ResBlock2d
from fomm.models.fold import FOLDABLE, fold_conv_bn, folded_copy

ATOL = 1e-5  # folding rounds the weights once more; measured 1e-7 on these frames


@pytest.fixture(scope="module")
def tiny(golden):
    return fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")


def test_fold_conv_bn_is_exact_in_float64():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, padding=1).double()
    norm = nn.BatchNorm2d(5).double().eval()
    with torch.no_grad():
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.2, 3)
        norm.weight.uniform_(0.5, 2)
        norm.bias.uniform_(-1, 1)
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(fold_conv_bn(conv, norm)(x), norm(conv(x)), atol=1e-12, rtol=0)


def test_folded_copy_matches_the_model_and_leaves_it_unchanged(golden, tiny):
    io = np.load(golden / "tiny-io.npz")
    state = {k: v.clone() for k, v in tiny.state_dict().items()}
    folded = folded_copy(tiny)
    norms = [m for m in folded.modules() if isinstance(m, nn.BatchNorm2d)]
    residual = [m for m in folded.modules() if isinstance(m, ResBlock2d)]
    assert residual and len(norms) == 2 * len(residual)  # only the pre-activation blocks keep theirs
    assert all(isinstance(m.norm, nn.Identity) for m in folded.modules() if isinstance(m, FOLDABLE))
    assert tiny.state_dict().keys() == state.keys()
    assert all(torch.equal(tiny.state_dict()[k], v) for k, v in state.items())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in tiny.modules()) > len(norms)

    source, driving = torch.from_numpy(io["source"][:1]), torch.from_numpy(io["driving"])
    with torch.inference_mode():
        outputs = []
        for model in (tiny, folded):
            kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
            n = len(kp_driving)
            expanded = Keypoints(kp_source.value.expand(n, -1, -1), kp_source.jacobian.expand(n, -1, -1, -1))
            out = model.generator(source.expand(n, -1, -1, -1), kp_driving, expanded)
            outputs.append((kp_driving.value, kp_driving.jacobian, out.prediction))
    for ours, reference in zip(outputs[1], outputs[0], strict=True):
        torch.testing.assert_close(ours, reference, atol=ATOL, rtol=0)
    torch.testing.assert_close(outputs[1][2], torch.from_numpy(io["ac1_gen_prediction"]), atol=1e-4, rtol=0)
