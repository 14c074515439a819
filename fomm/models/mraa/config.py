"""Typed configuration mirroring the articulated-animation (MRAA) YAML schema.

Parsed with :func:`fomm.config.from_dict`, so unknown or misspelt keys and wrong types are refused
with the dotted key path, as for FOMM's configs. Sections MRAA shares with FOMM (dataset,
reconstruction, transform) reuse FOMM's dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...config import (
    AVDNetworkParams,  # MRAA's sizes, which FOMM's AVD stage adopted
    ConfigError,
    ConfigFile,
    DatasetParams,
    HourglassParams,
    ReconstructionParams,
    TrainAVDParams,  # MRAA's train_avd_params schema, which FOMM's AVD stage adopted
    TransformParams,
    check_divisible,
    from_dict,
    validate_ranges,
)

MODES = ("standard", "relative", "avd")  # the published demo's names; "standard" is our "absolute"


@dataclass
class BGPredictorParams:
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    bg_type: str = "affine"  # zero | shift | affine | perspective


@dataclass
class RegionPredictorParams:
    temperature: float = 0.1
    block_expansion: int = 32
    max_features: int = 1024
    scale_factor: float = 0.25
    num_blocks: int = 5
    pca_based: bool = True
    fast_svd: bool = False  # the authors' choice of SVD routine; ours is exact either way


@dataclass
class PixelwiseFlowPredictorParams(HourglassParams):
    use_deformed_source: bool = True
    use_covar_heatmap: bool = True
    estimate_occlusion_map: bool = True
    region_var: float = 0.01  # the variance of the heatmaps when use_covar_heatmap is false


@dataclass
class MRAAGeneratorParams:
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    skips: bool = True
    pixelwise_flow_predictor_params: PixelwiseFlowPredictorParams | None = field(
        default_factory=PixelwiseFlowPredictorParams)


@dataclass
class MRAAModelParams:
    num_regions: int = 10
    num_channels: int = 3
    estimate_affine: bool = True
    revert_axis_swap: bool = True
    bg_predictor_params: BGPredictorParams = field(default_factory=BGPredictorParams)
    region_predictor_params: RegionPredictorParams = field(default_factory=RegionPredictorParams)
    generator_params: MRAAGeneratorParams = field(default_factory=MRAAGeneratorParams)
    avd_network_params: AVDNetworkParams = field(default_factory=AVDNetworkParams)


@dataclass
class MRAALossWeights:
    perceptual: list[float] = field(default_factory=lambda: [10.0] * 5)
    equivariance_shift: float = 10.0
    equivariance_affine: float = 10.0


@dataclass
class MRAATrainParams:
    num_epochs: int = 100
    num_repeats: int = 75
    epoch_milestones: list[int] = field(default_factory=lambda: [60, 90])
    lr: float = 2.0e-4
    batch_size: int = 28
    use_sync_bn: bool = True
    dataloader_workers: int = 6
    checkpoint_freq: int = 50
    scales: list[float] = field(default_factory=lambda: [1, 0.5, 0.25, 0.125])
    transform_params: TransformParams | None = field(default_factory=TransformParams)
    loss_weights: MRAALossWeights = field(default_factory=MRAALossWeights)


@dataclass
class MRAAAnimateParams:
    num_pairs: int = 50
    format: str = ".mp4"
    mode: str = "avd"


@dataclass
class MRAAVisualizerParams:
    kp_size: int = 5
    draw_border: bool = True
    colormap: str = "gist_rainbow"
    region_bg_color: list[float] = field(default_factory=lambda: [1, 1, 1])


@dataclass
class MRAAConfig(ConfigFile):
    """A whole MRAA configuration file."""

    dataset_params: DatasetParams = field(default_factory=DatasetParams)
    model_params: MRAAModelParams = field(default_factory=MRAAModelParams)
    train_params: MRAATrainParams = field(default_factory=MRAATrainParams)
    train_avd_params: TrainAVDParams = field(default_factory=TrainAVDParams)
    reconstruction_params: ReconstructionParams = field(default_factory=ReconstructionParams)
    animate_params: MRAAAnimateParams = field(default_factory=MRAAAnimateParams)
    visualizer_params: MRAAVisualizerParams = field(default_factory=MRAAVisualizerParams)
    description: str | None = None  # our extension, as in FOMM's Config

    UNSET: ClassVar[dict[str, Any]] = {"train_params.transform_params.max_rotation": 0,  # FOMM's extension
                                       "description": None}


def validate_mraa_config(config: MRAAConfig) -> None:
    """Refuse the settings whose computation we cannot check against the authors' numbers."""
    mp = config.model_params
    unsupported = [
        ("model_params.estimate_affine", mp.estimate_affine, True),
        ("model_params.region_predictor_params.pca_based", mp.region_predictor_params.pca_based, True),
    ]
    for key, value, supported in unsupported:
        if value != supported:
            raise ConfigError(f"'{key}: {str(value).lower()}' is not supported (every published MRAA model "
                              f"uses {str(supported).lower()}); set it to {str(supported).lower()}")
    mode = config.animate_params.mode
    if mode not in MODES:
        raise ConfigError(f"'animate_params.mode' must be one of {', '.join(MODES)}, got {mode!r}")
    from .bg_motion_predictor import BG_PARAMETERS

    bg_type = mp.bg_predictor_params.bg_type
    if bg_type not in BG_PARAMETERS:
        raise ConfigError(f"'model_params.bg_predictor_params.bg_type' must be one of "
                          f"{', '.join(BG_PARAMETERS)}, got {bg_type!r}")
    validate_mraa_frame_size(config, config.frame_size)


def validate_mraa_frame_size(config: MRAAConfig, size: int) -> None:
    """Check that every network can divide a ``size`` x ``size`` frame; name the key that cannot."""
    mp = config.model_params
    rp, gen, bg = mp.region_predictor_params, mp.generator_params, mp.bg_predictor_params
    checks = [("model_params.region_predictor_params", rp.scale_factor, rp.num_blocks),
              ("model_params.generator_params", 1, gen.num_down_blocks)]
    if bg.bg_type != "zero":
        checks.append(("model_params.bg_predictor_params", 1, bg.num_blocks))
    flow = gen.pixelwise_flow_predictor_params
    if flow is not None:
        checks.append(("model_params.generator_params.pixelwise_flow_predictor_params", flow.scale_factor,
                       flow.num_blocks))
    check_divisible(size, checks)


def parse_mraa_config(data: dict) -> MRAAConfig:
    """Validate an MRAA configuration given as plain data (the parsed YAML)."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a YAML mapping with sections such as model_params")
    config = from_dict(MRAAConfig, data)
    validate_ranges(config)
    validate_mraa_config(config)
    return config
