"""Tiny TPSMM and MRAA configs for the training tests (64 px, a few thousand weights per network
besides TPSMM's two ResNet-18s)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from fomm.families import get_family

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"

SIZE = 64


def golden_dir() -> Path:
    import os

    return Path(os.environ.get("FOMM_GOLDEN_DIR", GOLDEN))


def tpsmm_tiny_dict(size: int = SIZE, **train_params) -> dict:
    """The golden tpsmm-tiny.yaml (3 TPS, narrow networks) at ``size`` px, 2 epochs of 2 steps."""
    data = yaml.safe_load((golden_dir() / "tpsmm-tiny.yaml").read_text())
    data["dataset_params"].update(root_dir="unused", frame_shape=[size, size, 3], id_sampling=False)
    data["train_params"].update(num_epochs=2, num_repeats=1, epoch_milestones=[1], batch_size=2,
                                checkpoint_freq=1, lr_generator=2e-3, scales=[1, 0.5],
                                loss_weights={"perceptual": [10, 10, 0, 0, 0], "equivariance_value": 10,
                                              "warp_loss": 10, "bg": 10}, dropout_epoch=1, dropout_inc_epoch=1,
                                bg_start=1)
    data["train_params"].update(train_params)
    data["train_avd_params"].update(num_epochs=2, num_repeats=1, batch_size=2, epoch_milestones=[1],
                                    checkpoint_freq=1)
    return data


def tpsmm_tiny(size: int = SIZE, **train_params):
    return get_family("tpsmm").parse_config(copy.deepcopy(tpsmm_tiny_dict(size, **train_params)))


def mraa_tiny_dict(size: int = SIZE, **train_params) -> dict:
    """The golden mraa-tiny.yaml (4 regions, narrow networks, affine background) at ``size`` px, 2 epochs
    of 2 steps."""
    data = yaml.safe_load((golden_dir() / "mraa-tiny.yaml").read_text())
    data["dataset_params"].update(root_dir="unused", frame_shape=[size, size, 3], id_sampling=False)
    data["train_params"].update(num_epochs=2, num_repeats=1, epoch_milestones=[1], batch_size=2, checkpoint_freq=1,
                                lr=2e-3, scales=[1, 0.5], loss_weights={"perceptual": [10, 10, 0, 0, 0],
                                                                        "equivariance_shift": 10,
                                                                        "equivariance_affine": 10})
    data["train_params"].update(train_params)
    return data


def mraa_tiny(size: int = SIZE, **train_params):
    return get_family("mraa").parse_config(copy.deepcopy(mraa_tiny_dict(size, **train_params)))
