"""Typed configuration mirroring the original first-order-model YAML schema.

``load_config`` reads a published YAML file unchanged (or one of the bundled presets by name) into
dataclasses. Unknown or misspelt keys and wrong types are refused with the dotted key path, so a
typo fails here rather than deep in a forward pass.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import FommError

PRESETS = ("vox-256", "vox-adv-256", "taichi-256", "taichi-adv-256", "mgif-256", "fashion-256",
           "bair-256", "nemo-256")
# Numbers in exponent form without a dot ('3e-4'), which PyYAML (YAML 1.1) reads as strings.
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ConfigError(FommError, ValueError):
    """A configuration is invalid; the message names the key and the fix."""


# ---------------------------------------------------------------------------------------- schema
@dataclass
class FlipParams:
    horizontal_flip: bool = False
    time_flip: bool = False


@dataclass
class JitterParams:
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0


@dataclass
class ResizeParams:
    ratio: list[float] = field(default_factory=lambda: [1.0, 1.0])


@dataclass
class CropParams:
    size: list[int] = field(default_factory=lambda: [256, 256])


@dataclass
class AugmentationParams:
    flip_param: FlipParams | None = None
    jitter_param: JitterParams | None = None
    resize_param: ResizeParams | None = None
    crop_param: CropParams | None = None
    rotation_param: dict | None = None
    perspective_param: dict | None = None


@dataclass
class DatasetParams:
    root_dir: str = "data"
    frame_shape: list[int] = field(default_factory=lambda: [256, 256, 3])
    id_sampling: bool = False
    pairs_list: str | None = None
    augmentation_params: AugmentationParams = field(default_factory=AugmentationParams)


@dataclass
class CommonParams:
    num_kp: int = 10
    num_channels: int = 3
    estimate_jacobian: bool = True


@dataclass
class KPDetectorParams:
    temperature: float = 0.1
    block_expansion: int = 32
    max_features: int = 1024
    scale_factor: float = 0.25
    num_blocks: int = 5
    single_jacobian_map: bool = False
    pad: int = 0


@dataclass
class HourglassParams:
    """An hourglass network run at ``scale_factor`` of the frame: FOMM's dense motion network, TPSMM's,
    MRAA's pixelwise flow predictor (each family's section adds its own keys after these)."""

    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25


@dataclass
class DenseMotionParams(HourglassParams):
    kp_variance: float = 0.01


@dataclass
class GeneratorParams:
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    estimate_occlusion_map: bool = True
    dense_motion_params: DenseMotionParams | None = field(default_factory=DenseMotionParams)


@dataclass
class DiscriminatorParams:
    scales: list[float] = field(default_factory=lambda: [1])
    block_expansion: int = 32
    max_features: int = 512
    num_blocks: int = 4
    sn: bool = False
    use_kp: bool = False
    kp_variance: float = 0.01


@dataclass
class AVDNetworkParams:
    """Our extension: the AVD network over the keypoints (``fomm train --stage avd``), MRAA's sizes."""

    id_bottle_size: int = 64
    pose_bottle_size: int = 64


@dataclass
class ModelParams:
    common_params: CommonParams = field(default_factory=CommonParams)
    kp_detector_params: KPDetectorParams = field(default_factory=KPDetectorParams)
    generator_params: GeneratorParams = field(default_factory=GeneratorParams)
    discriminator_params: DiscriminatorParams = field(default_factory=DiscriminatorParams)
    # Our extension: grid_sample semantics. True is what the published checkpoints were trained
    # with (PyTorch 1.0); False reproduces the original code run on PyTorch >= 1.3.
    align_corners: bool = True
    avd_network_params: AVDNetworkParams | None = None  # our extension; None: no AVD stage trained yet


@dataclass
class TransformParams:
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5
    # Our extension: a rotation drawn uniformly within +-max_rotation degrees composed with the affine
    # part, so that keypoints must follow a part through large rotations (0: the published transform).
    max_rotation: float = 0.0


@dataclass
class LossWeights:
    generator_gan: float = 0.0
    discriminator_gan: float = 1.0
    feature_matching: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    perceptual: list[float] = field(default_factory=lambda: [10.0] * 5)
    equivariance_value: float = 10.0
    equivariance_jacobian: float = 10.0
    # Our extension (0 = off, as published): L1 between prediction and driving, summed over the
    # pyramid scales of train_params.scales (for training without ImageNet VGG-19 weights).
    reconstruction_l1: float = 0.0
    # Our extension (0 = off, as published): a penalty on keypoints of one frame that sit on top of each
    # other (Zhang et al. 2018's separation term), against the collapse of all keypoints onto one part.
    keypoint_separation: float = 0.0


@dataclass
class TrainParams:
    num_epochs: int = 100
    num_repeats: int = 1
    epoch_milestones: list[int] = field(default_factory=list)
    lr_generator: float = 2.0e-4
    lr_discriminator: float = 2.0e-4
    lr_kp_detector: float = 2.0e-4
    batch_size: int = 8
    scales: list[float] = field(default_factory=lambda: [1, 0.5, 0.25, 0.125])
    checkpoint_freq: int = 50
    transform_params: TransformParams | None = field(default_factory=TransformParams)
    loss_weights: LossWeights = field(default_factory=LossWeights)


@dataclass
class TrainAVDParams:
    """Our extension: the AVD stage (``fomm train --stage avd``), in MRAA's ``train_avd_params`` schema:
    ``lambda_shift`` weighs the keypoints' L1, ``lambda_affine`` their jacobians'."""

    num_epochs: int = 30
    num_repeats: int = 500
    batch_size: int = 256
    dataloader_workers: int = 24
    checkpoint_freq: int = 10
    epoch_milestones: list[int] = field(default_factory=lambda: [20, 25])
    lr: float = 1.0e-3
    random_scale: float = 0.25
    lambda_shift: float = 1.0
    lambda_affine: float = 1.0


@dataclass
class ReconstructionParams:
    num_videos: int | None = 1000
    format: str = ".mp4"


@dataclass
class NormalizationParams:
    adapt_movement_scale: bool = False
    use_relative_movement: bool = True
    use_relative_jacobian: bool = True


@dataclass
class AnimateParams:
    num_pairs: int = 50
    format: str = ".mp4"
    normalization_params: NormalizationParams = field(default_factory=NormalizationParams)


@dataclass
class VisualizerParams:
    kp_size: int = 5
    draw_border: bool = True
    colormap: str = "gist_rainbow"


DEFAULT_FRAME_SIZE = 256  # the size of every published model but TED's, and TPSMM's when frame_shape is null


class ConfigFile:
    """What the config of every family (FOMM's :class:`Config`, TPSMM's, MRAA's) shares: its frame size,
    and plain data in the family's published schema, where keys of our extensions left at their unset
    value (``UNSET``: dotted path -> value) are omitted."""

    UNSET: typing.ClassVar[dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data, in the published schema (YAML-ready)."""
        data = dataclasses.asdict(self)
        for path, unset in self.UNSET.items():
            *parents, key = path.split(".")
            node = data
            for parent in parents:
                node = node.get(parent) if isinstance(node, dict) else None
            if isinstance(node, dict) and key in node and node[key] == unset:
                del node[key]
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @property
    def frame_size(self) -> int:
        """The training frame size (``dataset_params.frame_shape``; 256 when it is null)."""
        shape = self.dataset_params.frame_shape
        return int(shape[0]) if shape else DEFAULT_FRAME_SIZE


@dataclass
class Config(ConfigFile):
    """A whole configuration file."""

    dataset_params: DatasetParams = field(default_factory=DatasetParams)
    model_params: ModelParams = field(default_factory=ModelParams)
    train_params: TrainParams = field(default_factory=TrainParams)
    reconstruction_params: ReconstructionParams = field(default_factory=ReconstructionParams)
    animate_params: AnimateParams = field(default_factory=AnimateParams)
    visualizer_params: VisualizerParams = field(default_factory=VisualizerParams)
    train_avd_params: TrainAVDParams | None = None  # our extension: the AVD stage (None: its defaults)
    # Our extension: what the model was trained on, in a few words ("synthetic articulated figures from
    # fomm synth"); it travels with the weights and is what the CLI tells the user about the model.
    description: str | None = None

    # Omitted when unset: the authors' Transform(**transform_params) takes no max_rotation; our AVD extension.
    UNSET: typing.ClassVar[dict[str, Any]] = {"train_params.transform_params.max_rotation": 0,
                                              "model_params.avd_network_params": None, "train_avd_params": None}


# --------------------------------------------------------------------------------------- parsing
def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; build nested dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, path)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{path}' must be a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, path)
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{path}' must be a list of {_type_name(item_type)}, got {value!r}")
        return [_coerce(v, item_type, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{path}' must be a mapping, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{path}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{path}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
            return float(value)  # '3e-4': a number in YAML 1.2, a string to PyYAML (YAML 1.1 wants '3.0e-4')
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{path}' must be a number, got {value!r}")
        # Keep 1 as int so pyramid/discriminator scale keys stay '1' as published.
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{path}' must be a string, got {value!r}")
        return value
    return value


def from_dict(cls, data: dict, path: str = ""):
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(names)})"
            raise ConfigError(f"unknown config key '{dotted}'{hint}")
        kwargs[key] = _coerce(value, hints[key], dotted)
    return cls(**kwargs)


def parse_config(data: dict) -> Config:
    """Validate a configuration given as plain data (the parsed YAML): its keys and types, the range of
    its values (:func:`validate_values`) and that the networks can divide its frame size."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a YAML mapping with sections such as model_params")
    config = from_dict(Config, data)
    validate_values(config)
    validate_ranges(config)
    validate_frame_size(config, config.frame_size)
    return config


MAX_KEYPOINTS = 1000  # far above any published model (10-50); more is a typo that would build a huge network


def _check(key: str, value: float, ok: bool, what: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}' must be {what}, got {value!r}")


def _count(key: str, value: int, low: int = 1, high: int | None = None) -> None:
    within = value >= low and (high is None or value <= high)
    _check(key, value, within, f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}")


def _number(key: str, value: float, *, positive: bool = False, at_most: float | None = None) -> None:
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0) and (at_most is None or value <= at_most)
    what = f"a finite number {'>' if positive else '>='} 0" + (f" and <= {at_most:g}" if at_most is not None else "")
    _check(key, value, ok, what)


# The range of every numeric key of the sections below, by its name, for every family's config (a name
# means the same in each): positive (> 0), fraction (0, 1], probability [0, 1], counts of transforms and
# integers >= 0 by name; every other integer >= 1, every other number finite (>= 0 when it is a rate, a
# standard deviation or a weight of the AVD loss).
RANGED_SECTIONS = ("dataset_params", "model_params", "train_params", "train_avd_params")
POSITIVE = {"temperature", "kp_variance", "region_var"}
FRACTIONS = {"scale_factor", "scales"}
PROBABILITIES = {"dropout_maxp", "dropout_startp"}
TRANSFORM_COUNTS = {"num_kp", "num_regions", "num_tps"}
FROM_ZERO = {"num_epochs", "epoch_milestones", "dropout_epoch", "dropout_inc_epoch", "bg_start", "dataloader_workers",
             "pad", "num_bottleneck_blocks"}
NON_NEGATIVE_PREFIXES = ("lr", "sigma_", "lambda_", "max_rotation", "random_scale")
# Channel widths: the published ones are 8 to 1024; a width of millions would ask for terabytes of weights.
WIDTHS = {"block_expansion", "max_features", "resnet_width"}
MAX_WIDTH = 4096
SKIPPED = {"augmentation_params"}  # the data loader's own checks


def validate_ranges(config: Any) -> None:
    """Refuse a numeric key of any family's config out of its range (see :data:`POSITIVE` and its
    siblings), naming the key and the range: a zero temperature (all-black frames), a zero count of
    blocks or a zero batch (a traceback deep in a network), a NaN rate, a probability over 1."""
    for section in RANGED_SECTIONS:
        value = getattr(config, section, None)
        if value is not None:
            _check_ranges(section, value)


def _check_ranges(key: str, value: Any, integral: bool = False) -> None:
    """``integral``: the field is declared an integer (YAML gives a float field's 0 as an int too)."""
    name = key.rsplit(".", 1)[-1].split("[")[0]
    if dataclasses.is_dataclass(value):
        for field_ in dataclasses.fields(value):
            if field_.name not in SKIPPED:
                declared = str(field_.type)
                _check_ranges(f"{key}.{field_.name}", getattr(value, field_.name),
                              "int" in declared and "float" not in declared)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_ranges(f"{key}[{i}]", item, integral)
    elif isinstance(value, bool) or value is None or not isinstance(value, int | float):
        return
    elif name in POSITIVE:
        _number(key, value, positive=True)
    elif name in FRACTIONS:
        _check(key, value, math.isfinite(value) and 0 < value <= 1, "a number in (0, 1]")
    elif name in PROBABILITIES:
        _check(key, value, math.isfinite(value) and 0 <= value <= 1, "a number from 0 to 1")
    elif name in TRANSFORM_COUNTS:
        _count(key, value, 1, MAX_KEYPOINTS)
    elif name in WIDTHS:
        _count(key, value, 1, MAX_WIDTH)
    elif integral:
        _count(key, value, 0 if name in FROM_ZERO else 1)
    elif name.startswith(NON_NEGATIVE_PREFIXES):
        _number(key, value)
    else:
        _check(key, value, math.isfinite(value), "a finite number")


def validate_values(config: Config) -> None:
    """Refuse values no network or training can use, naming the key and the range: a keypoint count
    that is not 1-1000, a non-positive size or batch, a NaN or negative learning rate, an empty or
    out-of-range pyramid of scales, a zero temperature (its softmax divides by it)."""
    mp, tp = config.model_params, config.train_params
    _count("model_params.common_params.num_kp", mp.common_params.num_kp, 1, MAX_KEYPOINTS)
    _count("model_params.common_params.num_channels", mp.common_params.num_channels)
    for i, side in enumerate(config.dataset_params.frame_shape[:2]):
        _count(f"dataset_params.frame_shape[{i}]", side)
    kp = mp.kp_detector_params
    _number("model_params.kp_detector_params.temperature", kp.temperature, positive=True)
    _number("model_params.kp_detector_params.scale_factor", kp.scale_factor, positive=True, at_most=1)
    for key, section in (("kp_detector_params", kp), ("generator_params", mp.generator_params),
                         ("generator_params.dense_motion_params", mp.generator_params.dense_motion_params),
                         ("discriminator_params", mp.discriminator_params)):
        if section is None:
            continue
        for name in ("block_expansion", "max_features", "num_blocks"):
            if hasattr(section, name):
                _count(f"model_params.{key}.{name}", getattr(section, name))
        if hasattr(section, "kp_variance"):
            _number(f"model_params.{key}.kp_variance", section.kp_variance, positive=True)
    dm = mp.generator_params.dense_motion_params
    if dm is not None:
        _number("model_params.generator_params.dense_motion_params.scale_factor", dm.scale_factor, positive=True,
                at_most=1)
    for name in ("num_epochs", "num_repeats", "batch_size", "checkpoint_freq"):
        _count(f"train_params.{name}", getattr(tp, name), 0 if name == "num_epochs" else 1)
    for name in ("lr_generator", "lr_discriminator", "lr_kp_detector"):
        _number(f"train_params.{name}", getattr(tp, name))
    _check("train_params.scales", tp.scales, bool(tp.scales), "a non-empty list of scales in (0, 1], e.g. [1, 0.5]")
    for i, scale in enumerate(tp.scales):
        _number(f"train_params.scales[{i}]", scale, positive=True, at_most=1)
    for i, scale in enumerate(mp.discriminator_params.scales):
        _number(f"model_params.discriminator_params.scales[{i}]", scale, positive=True, at_most=1)
    for i, milestone in enumerate(tp.epoch_milestones):
        _count(f"train_params.epoch_milestones[{i}]", milestone, 0)
    weights = tp.loss_weights
    for field_ in dataclasses.fields(weights):
        value = getattr(weights, field_.name)
        for i, weight in enumerate(value if isinstance(value, list) else [value]):
            key = f"train_params.loss_weights.{field_.name}" + (f"[{i}]" if isinstance(value, list) else "")
            _check(key, weight, math.isfinite(weight), "a finite number")
    if tp.transform_params is not None:
        for name in ("sigma_affine", "sigma_tps", "max_rotation"):
            _number(f"train_params.transform_params.{name}", getattr(tp.transform_params, name))
        _count("train_params.transform_params.points_tps", tp.transform_params.points_tps)


def apply_overrides(data: dict, overrides: list[str], name: str = "override") -> dict:
    """Apply ``key.path=value`` overrides (YAML values, e.g. ``train_params.num_epochs=3``) to a config
    given as plain data (:meth:`Config.to_dict`), in place; returns ``data``.

    Keys and values are validated afterwards by :func:`parse_config`, which names unknown keys.
    ``name``: what the messages call an override (the command line's ``--set``).
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{name} expects KEY=VALUE (e.g. train_params.num_epochs=3), got {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{name} {item}: the value is not valid YAML ({yaml_problem(exc)})") from None
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{name} {item}: '{'.'.join(parts[:depth + 1])}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def preset_path(name: str) -> Path:
    return Path(str(resources.files("fomm") / "configs" / f"{name}.yaml"))


def available_configs() -> list[str]:
    """Names of the bundled configs (the eight published ones and our own)."""
    folder = resources.files("fomm") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_config_data(name_or_path: str | Path) -> tuple[Path, Any]:
    """The file a config name or path stands for and its parsed YAML (not yet validated)."""
    text_path = Path(name_or_path)
    if not text_path.exists():
        name = str(name_or_path)
        if name.endswith(".yaml"):
            raise ConfigError(f"config file not found: {name}")
        if name not in available_configs():
            raise ConfigError(f"unknown config '{name}': give a YAML path or one of {', '.join(available_configs())}")
        text_path = preset_path(name)
    try:
        return text_path, yaml.safe_load(text_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{text_path} is not a text file (byte {exc.start} is not UTF-8); give a YAML config "
                          "or a preset name") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{text_path} is not valid YAML ({yaml_problem(exc)}); fix the file or give a preset "
                          "name") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: the problem and where (PyYAML's own message spans several lines)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def load_config(name_or_path: str | Path) -> Any:
    """Read a config of any model family: a bundled preset name (``vox-256``, ``tpsmm-vox-256``,
    ``mraa-ted-384``) or a path to a YAML file. The family is told by the file's ``model_params``
    sections (:func:`fomm.families.detect_config_family`); FOMM's when none matches, so that FOMM's
    messages name what is wrong. Returns that family's typed config (:class:`Config` for FOMM)."""
    from .families import detect_config_family  # the registry builds on this module

    path, data = read_config_data(name_or_path)
    try:
        return detect_config_family(data).parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def check_divisible(size: int, checks: list[tuple[str, float, int]]) -> None:
    """For each network (``key``, ``scale_factor``, ``num_blocks``): a ``size`` frame at that scale must be
    a whole number of pixels divisible by 2**num_blocks, or the error names the key and a size that fits
    (every family's encoders halve the frame that many times)."""
    for key, scale, blocks in checks:
        scaled = size * scale
        if scaled != int(scaled) or int(scaled) % (2**blocks):
            raise ConfigError(
                f"frame size {size} does not fit '{key}': size x scale_factor ({scaled:g}) must be a "
                f"multiple of 2**num_blocks ({2**blocks}); use a frame size that is a multiple of "
                f"{int(2**blocks / scale)}")


def validate_frame_size(config: Config, size: int) -> None:
    """Check that every network can divide a ``size`` x ``size`` frame; name the key that cannot."""
    mp = config.model_params
    kp = mp.kp_detector_params
    gen = mp.generator_params
    checks = [("model_params.kp_detector_params", kp.scale_factor, kp.num_blocks),
              ("model_params.generator_params", 1, gen.num_down_blocks)]
    if gen.dense_motion_params is not None:
        dm = gen.dense_motion_params
        checks.append(("model_params.generator_params.dense_motion_params", dm.scale_factor, dm.num_blocks))
    check_divisible(size, checks)
    heat = size * kp.scale_factor + 2 * kp.pad - 6
    if heat < 1:
        raise ConfigError(f"frame size {size} is too small for 'model_params.kp_detector_params' "
                          f"(the 7x7 keypoint head leaves a {heat:g}-pixel heatmap)")
