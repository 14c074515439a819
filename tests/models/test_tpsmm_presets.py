"""Every published TPSMM config builds networks whose state-dict keys and shapes are the published ones,
the config inferred from those tensors is the preset's, and every architecture runs forward."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fomm.config import ConfigError
from fomm.families import read_config
from fomm.families.tpsmm import PRESETS, infer_config
from fomm.families.tpsmm.config import parse_tpsmm_config
from fomm.families.tpsmm.model import TPSMM


def _published_keys(golden, preset: str) -> list[tuple[str, str]]:
    path = golden / f"tpsmm-keys-{preset.removeprefix('tpsmm-')}.txt"
    if not path.exists():
        pytest.fail(f"golden fixture {path} is missing", pytrace=False)
    return [tuple(line.split(" ")) for line in path.read_text().splitlines() if line.strip()]


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) if t.dim() else "scalar"


@pytest.fixture(scope="module")
def meta_models():
    cache: dict[str, TPSMM] = {}

    def get(name: str) -> TPSMM:
        if name not in cache:
            cache.clear()
            family, config = read_config(name)
            assert family.name == "tpsmm"
            with torch.device("meta"):
                cache[name] = TPSMM(config)
        return cache[name]

    return get


@pytest.mark.parametrize("preset", PRESETS)
def test_state_dict_keys_and_shapes_equal_published(golden, meta_models, preset):
    ours = [(k, _shape(v)) for k, v in meta_models(preset).state_dict().items()]
    assert ours == _published_keys(golden, preset)


@pytest.mark.parametrize("preset", PRESETS)
def test_config_inferred_from_tensors_is_the_preset(meta_models, preset):
    model = meta_models(preset)
    inferred = infer_config({name: net.state_dict() for name, net in model.networks().items()})
    assert dataclasses.asdict(inferred.model_params) == dataclasses.asdict(model.config.model_params)


def test_presets_carry_the_published_values():
    assert read_config("tpsmm-ted-384")[1].frame_size == 384
    mgif = read_config("tpsmm-mgif-256")[1]
    assert mgif.model_params.common_params.bg is False and mgif.train_avd_params.lambda_affine == 1
    vox = read_config("tpsmm-vox-256")[1]
    assert vox.model_params.common_params.num_tps == 10 and vox.train_params.dropout_maxp == 0.3


def test_unknown_keys_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"unknown config key 'model_params\.common_params\.num_tp'.*num_tps"):
        parse_tpsmm_config({"model_params": {"common_params": {"num_tp": 10}}})


def test_round_trip_through_yaml():
    import yaml

    config = read_config("tpsmm-mgif-256")[1]
    assert parse_tpsmm_config(yaml.safe_load(config.to_yaml())) == config


@pytest.mark.parametrize("multi_mask", [True, False])
def test_narrow_architecture_runs_forward_and_backward(multi_mask):
    config = read_config("tpsmm-vox-256")[1]
    mp = config.model_params
    mp.common_params.num_tps, mp.common_params.multi_mask = 2, multi_mask
    mp.generator_params.block_expansion = mp.dense_motion_params.block_expansion = 4
    mp.dense_motion_params.num_blocks = 2
    model = TPSMM(config)
    source, driving = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
    motion = model.dense_motion_network(source, kp_driving, kp_source, model.bg_predictor(source, driving))
    assert len(motion.occlusion_map) == (4 if multi_mask else 1)
    prediction = model.inpainting_network(source, motion).prediction
    assert prediction.shape == (2, 3, 32, 32)
    prediction.mean().backward()
    assert model.kp_detector.fg_encoder.fc.weight.grad.abs().sum() > 0
