"""Every published config builds networks whose state-dict keys and shapes are the published ones,
and the config inferred from those tensors gives back the preset's model parameters."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fomm.checkpoints import infer_model_params
from fomm.config import PRESETS, load_config
from fomm.model import FOMM


def _published_keys(golden, preset: str) -> list[tuple[str, str]]:
    lines = (golden / f"keys-{preset}.txt").read_text().split("\n")
    return [tuple(line.split(" ")) for line in lines if line.strip()]


def _our_keys(model: FOMM) -> list[tuple[str, str]]:
    def shape(t: torch.Tensor) -> str:
        return "x".join(map(str, t.shape)) if t.dim() else "scalar"

    return [(k, shape(v)) for k, v in model.state_dict().items()]


@pytest.fixture(scope="module")
def preset_models():
    cache: dict[str, FOMM] = {}

    def get(name: str) -> FOMM:
        if name not in cache:
            cache.clear()  # keep one full-size model in memory at a time
            with torch.device("meta"):
                cache[name] = FOMM(load_config(name), with_discriminator=True)
        return cache[name]

    return get


@pytest.mark.parametrize("preset", PRESETS)
def test_state_dict_keys_and_shapes_equal_published(golden, preset_models, preset):
    assert _our_keys(preset_models(preset)) == _published_keys(golden, preset)


@pytest.mark.parametrize("preset", PRESETS)
def test_config_inferred_from_tensors_is_the_preset(preset_models, preset):
    model = preset_models(preset)
    state_dicts = {name: net.state_dict() for name, net in model.networks().items()}
    inferred = infer_model_params(state_dicts)
    expected = dataclasses.asdict(load_config(preset).model_params)
    assert dataclasses.asdict(inferred) == expected


def test_inference_of_a_non_default_config(golden):
    config = load_config(golden / "tiny.yaml")
    model = FOMM(config, with_discriminator=True)
    inferred = infer_model_params({n: m.state_dict() for n, m in model.networks().items()})
    rebuilt = FOMM(dataclasses.replace(config, model_params=inferred), with_discriminator=True)
    assert _our_keys(rebuilt) == _our_keys(model)
    assert inferred.kp_detector_params.max_features == 64
    assert inferred.discriminator_params.scales == [1, 0.5]
    assert inferred.discriminator_params.use_kp and inferred.discriminator_params.sn


def test_tiny_forward_backward_on_every_preset_architecture():
    """Each published architecture runs forward and backward (at 64 px with narrow widths)."""
    for preset in PRESETS:
        config = load_config(preset)
        mp = config.model_params
        mp.kp_detector_params.block_expansion = 4
        mp.kp_detector_params.max_features = 16
        mp.generator_params.block_expansion = 4
        mp.generator_params.max_features = 16
        mp.generator_params.dense_motion_params.block_expansion = 4
        mp.generator_params.dense_motion_params.max_features = 16
        mp.discriminator_params.block_expansion = 4
        mp.discriminator_params.max_features = 16
        model = FOMM(config, with_discriminator=True)
        source, driving = torch.rand(2, 3, 128, 128), torch.rand(2, 3, 128, 128)
        kp_s, kp_d = model.kp_detector(source), model.kp_detector(driving)
        out = model.generator(source, kp_d, kp_s)
        disc = model.discriminator({s: out.prediction for s in mp.discriminator_params.scales}, kp_d.value)
        loss = out.prediction.mean() + sum(d.prediction_map.mean() for d in disc.values())
        loss.backward()
        assert out.prediction.shape == (2, 3, 128, 128), preset
        assert model.kp_detector.kp.weight.grad is not None, preset
