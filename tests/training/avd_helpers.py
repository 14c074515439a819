"""Reconstruction checkpoints of each family and tiny AVD-stage configs for the AVD tests (64 px, on
``fomm synth`` data)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from fomm.checkpoints import save_checkpoint
from fomm.config import parse_config
from fomm.data.synthetic import make_synthetic_dataset
from fomm.families import get_family
from fomm.training import prepare_training
from fomm.training.families.mraa import MRAATrainer
from fomm.training.families.tpsmm import TPSMMTrainer
from fomm.training.trainer import Trainer

from .family_helpers import mraa_tiny_dict, tpsmm_tiny_dict
from .helpers import RandomPairs, tiny_config_dict

SIZE = 64
FAMILIES = ("fomm", "tpsmm", "mraa")


def synth_data(root: Path) -> Path:
    """8 videos of 8 frames at 64 px: 6 to train on, 2 held out (``test/``)."""
    return make_synthetic_dataset(root, num_videos=8, num_frames=8, size=SIZE, test_fraction=0.25, seed=0).root


def avd_params(**changes) -> dict:
    params = {"num_epochs": 2, "num_repeats": 2, "batch_size": 4, "epoch_milestones": [1], "checkpoint_freq": 1}
    params.update(changes)
    return params


def family_config(family: str, root: Path, **avd):
    """A tiny config of ``family`` reading ``root``, with the AVD stage's ``train_avd_params`` ``avd``."""
    if family == "fomm":
        data = tiny_config_dict(SIZE)
    elif family == "tpsmm":
        data = copy.deepcopy(tpsmm_tiny_dict(SIZE))
    else:
        data = mraa_tiny_dict(SIZE)
    data["dataset_params"].update(root_dir=str(root), frame_shape=[SIZE, SIZE, 3], id_sampling=False)
    data.setdefault("train_avd_params", {}).update(avd_params(**avd))
    return parse_config(data) if family == "fomm" else get_family(family).parse_config(data)


def reconstruction_checkpoint(family: str, config, folder: Path, vgg=None, trained: bool = False) -> Path:
    """A checkpoint of the reconstruction stage: with ``trained``, one step of the family's trainer (its
    optimizers, epoch and training state); else random networks under the family's keys."""
    torch.manual_seed(0)
    if trained:
        cls = {"fomm": Trainer, "tpsmm": TPSMMTrainer, "mraa": MRAATrainer}[family]
        trainer = cls(config, RandomPairs(4, SIZE), folder, vgg=vgg, device="cpu", tensorboard=False,
                      visualize=False, max_steps=1)
        return trainer.fit().checkpoint
    fam = get_family(family)
    model = fam.build_model(config, [n for n in fam.networks if n != "avd_network"])
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    key = {"fomm": "optimizer_generator", "tpsmm": "optimizer", "mraa": "optimizer_reconstruction"}[family]
    return save_checkpoint(folder / "00000000-checkpoint.pth.tar", model.networks(), config, 0, {key: optimizer},
                           epoch_key=fam.epoch_keys[0])


def avd_trainer(config, checkpoint, out: Path, **options):
    return prepare_training(config, out, checkpoint=checkpoint, stage="avd", device="cpu", tensorboard=False,
                            **options)
