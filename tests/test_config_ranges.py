"""Out-of-range config values are refused by every family's config parsing, naming the key and the
valid range (issue 29): a zero temperature gave all-black frames with exit 0, a zero batch or block count
a traceback deep in a network, a dropout probability of 2 a run that trains nothing."""

from __future__ import annotations

import math

import pytest

from fomm.config import ConfigError
from fomm.families import read_config

CASES = {
    "vox-256": [
        ("model_params.kp_detector_params.temperature", 0, "a finite number > 0"),
        ("model_params.generator_params.dense_motion_params.kp_variance", -1, "a finite number > 0"),
        ("model_params.generator_params.num_bottleneck_blocks", -1, "an integer >= 0"),
        ("train_params.num_repeats", 0, "an integer >= 1"),
        ("model_params.kp_detector_params.max_features", 10**6, "an integer from 1 to 4096"),
    ],
    "tpsmm-vox-256": [
        ("model_params.common_params.num_tps", 0, "an integer from 1 to 1000"),
        ("model_params.generator_params.block_expansion", 0, "an integer from 1 to 4096"),
        ("model_params.dense_motion_params.scale_factor", 2, "a number in (0, 1]"),
        ("train_params.batch_size", 0, "an integer >= 1"),
        ("train_params.lr_generator", math.nan, "a finite number >= 0"),
        ("train_params.dropout_maxp", 2, "a number from 0 to 1"),
        ("train_params.scales", [0.5, 0], "a number in (0, 1]"),
        ("train_avd_params.lr", -1, "a finite number >= 0"),
    ],
    "tpsmm-synthetic-64": [
        ("model_params.common_params.resnet_width", 10**9, "an integer from 1 to 4096"),
        ("model_params.common_params.resnet_width", 0, "an integer from 1 to 4096"),
    ],
    "mraa-vox-256": [
        ("model_params.region_predictor_params.temperature", 0, "a finite number > 0"),
        ("model_params.num_regions", 100000, "an integer from 1 to 1000"),
        ("model_params.generator_params.block_expansion", 10**6, "an integer from 1 to 4096"),
        ("model_params.generator_params.pixelwise_flow_predictor_params.region_var", 0, "a finite number > 0"),
        ("train_params.num_epochs", -1, "an integer >= 0"),
        ("train_params.epoch_milestones", [10, -1], "an integer >= 0"),
        ("train_params.loss_weights.equivariance_shift", math.inf, "a finite number"),
    ],
}


def _set(data: dict, key: str, value) -> None:
    *sections, last = key.split(".")
    for section in sections:
        data = data[section]
    assert last in data, key
    data[last] = value


@pytest.mark.parametrize(("preset", "key", "value", "words"),
                         [(preset, *case) for preset, cases in CASES.items() for case in cases])
def test_an_out_of_range_value_names_the_key_and_the_range(preset, key, value, words, tmp_path):
    family, config = read_config(preset)
    data = config.to_dict()
    _set(data, key, value)
    with pytest.raises(ConfigError) as error:
        family.parse_config(data)
    message = str(error.value)
    shown = key + (f"[{len(value) - 1}]" if isinstance(value, list) else "")
    assert f"config key '{shown}' must be {words}" in message, message
    assert "\n" not in message


@pytest.mark.parametrize("preset", list(CASES))
def test_the_presets_pass(preset):
    family, config = read_config(preset)
    assert family.parse_config(config.to_dict()).to_dict() == config.to_dict()
