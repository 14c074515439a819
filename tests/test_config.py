"""Reading the original YAML schema into typed configs, and refusing bad ones by key."""

from __future__ import annotations

import pytest
import yaml

from fomm.config import PRESETS, Config, ConfigError, apply_overrides, available_configs, load_config, parse_config


def test_presets_are_bundled_and_load():
    assert set(PRESETS) <= set(available_configs())
    for name in PRESETS:
        config = load_config(name)
        assert isinstance(config, Config)
        assert config.model_params.common_params.num_kp == 10
    assert load_config("mgif-256").model_params.kp_detector_params.single_jacobian_map
    assert load_config("vox-adv-256").model_params.discriminator_params.use_kp
    assert load_config("vox-256").model_params.discriminator_params.sn


def test_original_yaml_reads_unchanged(golden):
    config = load_config(golden / "tiny.yaml")
    assert config.model_params.generator_params.dense_motion_params.block_expansion == 8
    assert config.train_params.loss_weights.feature_matching == [10, 10, 10, 10]
    assert config.dataset_params.augmentation_params.jitter_param.hue == 0.1
    assert config.model_params.align_corners is True


def test_round_trip_through_yaml(golden):
    config = load_config(golden / "tiny.yaml")
    assert parse_config(yaml.safe_load(config.to_yaml())) == config


def _tiny(golden) -> dict:
    return yaml.safe_load((golden / "tiny.yaml").read_text())


def test_misspelt_key_is_named_with_a_suggestion(golden):
    data = _tiny(golden)
    data["model_params"]["kp_detector_params"]["temprature"] = 0.1
    with pytest.raises(ConfigError, match=r"model_params\.kp_detector_params\.temprature.*did you mean 'temperature'"):
        parse_config(data)


def test_unknown_section_is_refused(golden):
    data = _tiny(golden)
    data["model_parameters"] = {}
    with pytest.raises(ConfigError, match="unknown config key 'model_parameters'"):
        parse_config(data)


@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("kp_detector_params", "num_blocks", "five", "must be an integer"),
    ("kp_detector_params", "temperature", "hot", "must be a number"),
    ("common_params", "estimate_jacobian", "yes please", "must be true or false"),
    ("discriminator_params", "scales", 1, "must be a list"),
])
def test_wrong_type_names_the_key(golden, section, key, value, expected):
    data = _tiny(golden)
    data["model_params"][section][key] = value
    with pytest.raises(ConfigError, match=rf"model_params\.{section}\.{key}.*{expected}"):
        parse_config(data)


def test_frame_size_the_architecture_cannot_divide(golden):
    data = _tiny(golden)
    data["dataset_params"]["frame_shape"] = [100, 100, 3]
    expected = r"frame size 100 does not fit 'model_params\.kp_detector_params'.*multiple of 128"
    with pytest.raises(ConfigError, match=expected):
        parse_config(data)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown config 'vox-512'.*vox-256"):
        load_config("vox-512")
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_params: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_a_number_written_3e_4_is_a_number(golden):
    """PyYAML reads '3e-4' (no dot) as a string; a config or a --set writing it so means the number."""
    data = yaml.safe_load((golden / "tiny.yaml").read_text().replace("lr_generator: 0.0002", "lr_generator: 3e-4"))
    assert data["train_params"]["lr_generator"] == "3e-4"  # what PyYAML gives
    assert parse_config(data).train_params.lr_generator == pytest.approx(3e-4)
    data["model_params"]["kp_detector_params"]["temperature"] = "1e"
    with pytest.raises(ConfigError, match="temperature.*must be a number"):
        parse_config(data)


def test_overrides_set_nested_yaml_values():
    data = {"train_params": {"num_epochs": 100, "scales": [1], "transform_params": None}}
    apply_overrides(data, ["train_params.num_epochs=3", "train_params.scales=[1, 0.5]",
                           "train_params.transform_params.sigma_affine=0.1", "model_params.align_corners=false"])
    assert data == {"train_params": {"num_epochs": 3, "scales": [1, 0.5], "transform_params": {"sigma_affine": 0.1}},
                    "model_params": {"align_corners": False}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["train_params.num_epochs"])
    with pytest.raises(ConfigError, match="'train_params.num_epochs' is a value, not a section"):
        apply_overrides({"train_params": {"num_epochs": 1}}, ["train_params.num_epochs.x=1"])


@pytest.mark.parametrize("key, value, message", [
    ("model_params.common_params.num_kp", -1, "'model_params.common_params.num_kp' must be an integer from 1 to 1000"),
    ("model_params.common_params.num_kp", 10**6, "'model_params.common_params.num_kp' must be an integer from 1"),
    ("train_params.lr_generator", float("nan"), "'train_params.lr_generator' must be a finite number >= 0, got nan"),
    ("train_params.batch_size", 0, "'train_params.batch_size' must be an integer >= 1, got 0"),
    ("train_params.scales", [], "'train_params.scales' must be a non-empty list of scales"),
    ("train_params.scales", [1, 2], "'train_params.scales[1]' must be a finite number > 0 and <= 1"),
    ("model_params.kp_detector_params.temperature", 0, "'model_params.kp_detector_params.temperature' must be a"),
])
def test_values_no_network_can_use_are_refused_by_key(key, value, message):
    data = load_config("vox-256").to_dict()
    section, *path, last = key.split(".")
    node = data[section]
    for part in path:
        node = node[part]
    node[last] = value
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_checkpoint_with_an_absurd_stored_config_is_refused_at_load(tmp_path, golden):
    import torch

    from fomm.checkpoints import CheckpointError, read_checkpoint

    raw = torch.load(golden / "tiny-cpk.pth.tar", weights_only=True)
    config = load_config("vox-256").to_dict()
    config["model_params"]["common_params"]["num_kp"] = -3
    raw["config"] = yaml.safe_dump(config)
    torch.save(raw, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError, match=r"config stored in the checkpoint is invalid.*num_kp' must be an "
                                              r"integer from 1 to 1000, got -3"):
        read_checkpoint(tmp_path / "bad.pth.tar")
