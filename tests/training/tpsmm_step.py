"""The fixed TPSMM training step shared by ``tests/fixtures/make_tpsmm_train_step.py`` (which runs the
authors' code on it) and ``tests/training/test_tpsmm_step.py`` (which runs ours): config, weights,
batch, the cases (epoch, seed) and the gradient fingerprints."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from fomm.families import get_family
from fomm.families.tpsmm.model import TPSMM
from fomm.training.vgg import Vgg19

from .family_helpers import tpsmm_tiny_dict

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tpsmm-train-step.npz"
# (epoch, seed): epoch 0 with TPS dropout p = 0.1 and no background; epoch 1 with p = 0.13 and the
# background motion and its loss (bg_start 1).
CASES = ((0, 1234), (1, 4321))


def fixture_config() -> dict:
    data = tpsmm_tiny_dict(dropout_epoch=35, dropout_inc_epoch=10, bg_start=1)
    data["train_params"]["loss_weights"]["perceptual"] = [10, 10, 10, 10, 10]
    return data


def build_ours() -> tuple[TPSMM, Vgg19]:
    """Our networks (seed 0) and a VGG-19 (seed 1): the weights both sides use."""
    config = get_family("tpsmm").parse_config(copy.deepcopy(fixture_config()))
    torch.manual_seed(0)
    model = TPSMM(config, ("inpainting_network", "kp_detector", "dense_motion_network", "bg_predictor"))
    torch.manual_seed(1)
    return model, Vgg19()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    size = fixture_config()["dataset_params"]["frame_shape"][0]
    frames = torch.rand(2, 2, 3, size, size, generator=generator)
    return frames[0], frames[1]


def _stats(t: torch.Tensor) -> np.ndarray:
    t = t.detach().double()
    return np.array([t.sum().item(), t.abs().sum().item(), (t * t).sum().item()])


def fingerprints(networks: dict[str, torch.nn.Module]) -> dict[str, np.ndarray]:
    """Per network: (n, 3) sums, absolute sums and squared sums of each parameter's gradient (in
    ``named_parameters`` order; zeros for none) and of each floating buffer (batch-norm statistics)."""
    out = {}
    for name, net in networks.items():
        out[f"grad_{name}"] = np.stack([_stats(p.grad) if p.grad is not None else np.zeros(3)
                                        for _, p in net.named_parameters()])
        buffers = [b for _, b in net.named_buffers() if b.is_floating_point()]
        if buffers:
            out[f"buffers_{name}"] = np.stack([_stats(b) for b in buffers])
    return out
