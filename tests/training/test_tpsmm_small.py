"""Our two TPSMM extensions for small models trained offline (the demonstration config
``tpsmm-synthetic-64``): ``common_params.resnet_width`` narrows the keypoint and background ResNet-18s,
and ``loss_weights.reconstruction_l1`` is FOMM's multi-scale L1 in place of the VGG-19 perceptual term.
Both are absent from a published config's data, which stays the authors' schema."""

from __future__ import annotations

import copy

import pytest
import torch

from fomm.families import get_family
from fomm.families.tpsmm.model import TPSMM
from fomm.models.resnet import ResNet18
from fomm.training.errors import TrainingError
from fomm.training.families.tpsmm import TPSMMLoss, TPSMMTrainer

from .family_helpers import tpsmm_tiny_dict
from .helpers import RandomPairs

TRAINING_NETWORKS = ("inpainting_network", "kp_detector", "dense_motion_network", "bg_predictor")
TORCHVISION_RESNET18_WITHOUT_FC = 11_176_512  # torchvision's resnet18: 11,689,512 parameters, fc 513,000


def parse(data: dict):
    return get_family("tpsmm").parse_config(copy.deepcopy(data))


def small_dict(**loss_weights) -> dict:
    data = tpsmm_tiny_dict()
    data["model_params"]["common_params"].update(resnet_width=8, bg=True)
    data["train_params"]["loss_weights"].update(loss_weights)
    return data


def test_published_resnet18_is_torchvisions_and_width_narrows_every_stage():
    published = ResNet18(10)
    assert sum(p.numel() for name, p in published.named_parameters()
               if not name.startswith("fc.")) == TORCHVISION_RESNET18_WITHOUT_FC
    narrow = ResNet18(10, width=16)
    assert narrow.conv1.weight.shape == (16, 3, 7, 7)
    assert narrow.layer2[0].conv1.weight.shape == (32, 16, 3, 3)
    assert narrow.layer4[1].conv2.weight.shape == (128, 128, 3, 3)
    assert narrow.fc.weight.shape == (10, 128)
    assert narrow(torch.rand(2, 3, 64, 64)).shape == (2, 10)


def test_resnet_width_builds_narrow_regressors_and_stays_out_of_published_data():
    published = parse(tpsmm_tiny_dict())
    data = published.to_dict()
    assert "resnet_width" not in data["model_params"]["common_params"]
    assert "reconstruction_l1" not in data["train_params"]["loss_weights"]
    small = parse(small_dict(reconstruction_l1=10))
    model = TPSMM(small, TRAINING_NETWORKS)
    assert model.kp_detector.fg_encoder.conv1.out_channels == 8
    assert model.bg_predictor.bg_encoder.fc.in_features == 64
    again = parse(small.to_dict())  # written into checkpoints: read back the same
    assert again.model_params.common_params.resnet_width == 8
    assert again.train_params.loss_weights.reconstruction_l1 == 10


def test_reconstruction_l1_is_the_multiscale_l1_of_the_prediction():
    config = parse(small_dict(perceptual=[0, 0, 0, 0, 0], reconstruction_l1=10, equivariance_value=0, warp_loss=0))
    torch.manual_seed(0)
    model = TPSMM(config, TRAINING_NETWORKS)
    loss = TPSMMLoss(model, config.train_params, vgg=None)
    source, driving = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    losses, step = loss(source, driving, epoch=0)
    assert set(losses) == {"reconstruction_l1"}
    prediction = step.generated.prediction
    full = (prediction - driving).abs().mean()
    half = (step.pyramid_generated[0.5] - step.pyramid_real[0.5]).abs().mean()
    assert step.pyramid_real[0.5].shape[-1] == 32
    assert losses["reconstruction_l1"].item() == pytest.approx(10 * (full + half).item(), rel=1e-5)
    losses["reconstruction_l1"].backward()  # it trains the motion too, not only the inpainting
    assert model.inpainting_network.final.weight.grad.abs().sum() > 0
    assert model.kp_detector.fg_encoder.fc.weight.grad.abs().sum() > 0


def test_reconstruction_l1_alone_is_something_to_train(tmp_path):
    zero = dict(perceptual=[0, 0, 0, 0, 0], equivariance_value=0, warp_loss=0)
    with pytest.raises(TrainingError, match="reconstruction_l1"):
        TPSMMTrainer(parse(small_dict(**zero)), RandomPairs(2, 64), tmp_path / "a", tensorboard=False,
                     visualize=False)
    trainer = TPSMMTrainer(parse(small_dict(**zero, reconstruction_l1=10)), RandomPairs(2, 64), tmp_path / "b",
                           tensorboard=False, visualize=False)
    losses, _ = trainer.train_step(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
    assert set(losses) == {"reconstruction_l1"} and float(losses["reconstruction_l1"]) > 0
