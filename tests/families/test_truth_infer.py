"""The config a bare checkpoint's shapes give back, for architectures other than the published ones (issue 30,
the survivors of ``python scripts/mutation.py fomm/families/tpsmm/__init__.py``): the published presets share
most values (3 down blocks, widths that never reach max_features, 3 channels), so a loader reading one of
them wrongly, or not at all, passed. Here the truth is the config each model was built from."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fomm.checkpoints import CheckpointError
from fomm.families import get_family
from fomm.families.tpsmm.config import (
    AVDNetworkParams,
    InpaintingParams,
    TPSCommonParams,
    TPSDenseMotionParams,
    TPSMMConfig,
    TPSModelParams,
)

TPSMM = get_family("tpsmm")

# Widths between be * 2 * n and be * 2**n (so a wrong "unsaturated" width shows), one channel, one mask, no
# background network, no AVD network, the ResNets at a quarter width, the hourglass at half the frame.
CAPPED = TPSModelParams(
    TPSCommonParams(num_tps=3, num_channels=1, bg=False, multi_mask=False, resnet_width=16),
    InpaintingParams(block_expansion=16, max_features=96, num_down_blocks=3),
    TPSDenseMotionParams(block_expansion=8, max_features=48, num_blocks=3, scale_factor=0.5),
)
# Widths that never reach max_features (so the published defaults stand), an AVD network of its own sizes.
UNSATURATED = TPSModelParams(
    TPSCommonParams(num_tps=2, resnet_width=32),
    InpaintingParams(block_expansion=8, num_down_blocks=3),
    TPSDenseMotionParams(block_expansion=16, num_blocks=4, scale_factor=1),
    AVDNetworkParams(id_bottle_size=64, pose_bottle_size=32),
)


def _state_dicts(params: TPSModelParams, networks=TPSMM.networks) -> dict[str, dict[str, torch.Tensor]]:
    """What a published file holds for a model of ``params``: its networks' tensors (shapes only)."""
    with torch.device("meta"):
        model = TPSMM.build_model(TPSMMConfig(model_params=params), networks)
    return {name: net.state_dict() for name, net in model.networks().items()}


@pytest.mark.parametrize("params", [CAPPED, UNSATURATED], ids=["capped", "unsaturated"])
def test_the_shapes_give_back_the_architecture_the_model_was_built_with(params):
    assert TPSMM.infer_config(_state_dicts(params)).model_params == params


def test_without_an_avd_network_its_published_sizes_stand():
    sds = _state_dicts(UNSATURATED, ("inpainting_network", "kp_detector", "dense_motion_network", "bg_predictor"))
    assert "avd_network" not in sds
    expected = dataclasses.replace(UNSATURATED, avd_network_params=AVDNetworkParams())
    assert TPSMM.infer_config(sds).model_params == expected


def test_weights_of_another_kind_are_refused_naming_the_missing_tensor():
    sds = _state_dicts(CAPPED)
    del sds["kp_detector"]["fg_encoder.fc.weight"]
    with pytest.raises(CheckpointError) as refused:
        TPSMM.infer_config(sds)
    assert str(refused.value) == "the weights lack 'fg_encoder.fc.weight': not TPSMM networks"


def test_build_model_builds_the_networks_asked_for_only():
    config = TPSMMConfig(model_params=UNSATURATED)
    with torch.device("meta"):
        model = TPSMM.build_model(config, ("inpainting_network", "kp_detector", "dense_motion_network"))
    assert list(model.networks()) == ["inpainting_network", "kp_detector", "dense_motion_network"]
    assert model.config is config


def test_make_backend_runs_the_given_model_with_the_given_options():
    model = TPSMM.build_model(TPSMMConfig(model_params=CAPPED), TPSMM.required)
    backend = TPSMM.make_backend(model, precision="bf16", allow_slow=True)  # emulated where the CPU lacks bf16
    assert backend.model is model and backend.dtype == torch.bfloat16
