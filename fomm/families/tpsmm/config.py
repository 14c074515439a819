"""Typed configuration mirroring the Thin-Plate-Spline-Motion-Model YAML schema (``config/vox-256.yaml``
and its siblings). Parsed with :func:`fomm.config.from_dict`: unknown or misspelt keys and wrong types
are refused with the dotted key path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...config import (
    AugmentationParams,
    ConfigError,
    ConfigFile,
    HourglassParams,
    VisualizerParams,
    check_divisible,
    from_dict,
    validate_ranges,
)


@dataclass
class TPSDatasetParams:
    root_dir: str = "data"
    frame_shape: list[int] | None = None  # null in every published config: 256 px (TED: 384, pre-resized)
    id_sampling: bool = False
    pairs_list: str | None = None
    augmentation_params: AugmentationParams = field(default_factory=AugmentationParams)


@dataclass
class TPSCommonParams:
    num_tps: int = 10  # K thin-plate-spline transforms of 5 keypoints each
    num_channels: int = 3
    bg: bool = True  # an affine background motion (the bg_predictor network)
    multi_mask: bool = True  # occlusion masks at four resolutions
    # Our extension: the first-stage channels of the keypoint and background ResNet-18s (published: 64,
    # doubling per stage); a small model narrows them as FOMM's small configs narrow block_expansion.
    resnet_width: int = 64


@dataclass
class InpaintingParams:  # ``generator_params`` in the YAML
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 3


@dataclass
class TPSDenseMotionParams(HourglassParams):
    """TPSMM's dense motion network: the hourglass keys alone (its heatmap variance is fixed, 0.01)."""


@dataclass
class AVDNetworkParams:
    id_bottle_size: int = 128
    pose_bottle_size: int = 128


@dataclass
class TPSModelParams:
    common_params: TPSCommonParams = field(default_factory=TPSCommonParams)
    generator_params: InpaintingParams = field(default_factory=InpaintingParams)
    dense_motion_params: TPSDenseMotionParams = field(default_factory=TPSDenseMotionParams)
    avd_network_params: AVDNetworkParams = field(default_factory=AVDNetworkParams)


@dataclass
class TPSTransformParams:
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5


@dataclass
class TPSLossWeights:
    perceptual: list[float] = field(default_factory=lambda: [10.0] * 5)
    equivariance_value: float = 10.0
    warp_loss: float = 10.0
    bg: float = 10.0
    reconstruction_l1: float = 0.0  # our extension, as FOMM's: the multi-scale L1 instead of a VGG-19 offline


@dataclass
class TPSTrainParams:
    num_epochs: int = 100
    num_repeats: int = 75
    epoch_milestones: list[int] = field(default_factory=lambda: [70, 90])
    lr_generator: float = 2.0e-4
    batch_size: int = 28
    scales: list[float] = field(default_factory=lambda: [1, 0.5, 0.25, 0.125])
    dataloader_workers: int = 12
    checkpoint_freq: int = 50
    dropout_epoch: int = 35  # TPS dropout (paper Eq. 7-8) for the first dropout_epoch epochs
    dropout_maxp: float = 0.3
    dropout_startp: float = 0.1
    dropout_inc_epoch: int = 10
    bg_start: int = 10  # the background motion is trained from this epoch
    transform_params: TPSTransformParams = field(default_factory=TPSTransformParams)
    loss_weights: TPSLossWeights = field(default_factory=TPSLossWeights)


@dataclass
class TrainAVDParams:
    num_epochs: int = 200
    num_repeats: int = 300
    batch_size: int = 256
    dataloader_workers: int = 24
    checkpoint_freq: int = 50
    epoch_milestones: list[int] = field(default_factory=lambda: [140, 180])
    lr: float = 1.0e-3
    lambda_shift: float = 1.0
    random_scale: float = 0.25
    lambda_affine: float | None = None  # mgif-256 only


@dataclass
class TPSMMConfig(ConfigFile):
    """A whole TPSMM configuration file."""

    dataset_params: TPSDatasetParams = field(default_factory=TPSDatasetParams)
    model_params: TPSModelParams = field(default_factory=TPSModelParams)
    train_params: TPSTrainParams = field(default_factory=TPSTrainParams)
    train_avd_params: TrainAVDParams = field(default_factory=TrainAVDParams)
    visualizer_params: VisualizerParams = field(default_factory=VisualizerParams)
    description: str | None = None  # our extension: what the model was trained on, in a few words

    # Omitted when unset, as in the published schema.
    UNSET: ClassVar[dict[str, Any]] = {"train_avd_params.lambda_affine": None, "description": None,
                                       "model_params.common_params.resnet_width": 64,
                                       "train_params.loss_weights.reconstruction_l1": 0.0}


def parse_tpsmm_config(data: dict) -> TPSMMConfig:
    """Validate a TPSMM configuration given as plain data (the parsed YAML)."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a YAML mapping with sections such as model_params")
    config = from_dict(TPSMMConfig, data)
    validate_ranges(config)
    validate_frame_size(config, config.frame_size)
    return config


def validate_frame_size(config: TPSMMConfig, size: int) -> None:
    """Check that the networks can run on ``size`` x ``size`` frames; name the key that cannot."""
    mp = config.model_params
    dm, gen = mp.dense_motion_params, mp.generator_params
    check_divisible(size, [("model_params.dense_motion_params", dm.scale_factor, dm.num_blocks)])
    if size % 2**gen.num_down_blocks:
        raise ConfigError(f"frame size {size} does not fit 'model_params.generator_params': it must be a "
                          f"multiple of 2**num_down_blocks ({2**gen.num_down_blocks})")
    if mp.common_params.multi_mask and (gen.num_down_blocks != 3 or dm.scale_factor not in (0.5, 0.25, 0.125)):
        raise ConfigError("'model_params.common_params.multi_mask' needs generator_params.num_down_blocks 3 (a "
                          "mask for each of its four resolutions) and a dense_motion_params.scale_factor of 0.5, "
                          "0.25 or 0.125, as in the published configs (3 and 0.25); or set multi_mask: false")
