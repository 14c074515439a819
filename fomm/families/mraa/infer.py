"""An MRAA config rebuilt from tensor shapes, for the published checkpoints (which store none).

Values that leave no trace in the weights take the published values: temperature 0.1, covariance
heatmaps, skips, the SVD sign rule. The frame size does not show in the weights either: 256 here;
:func:`fomm.checkpoints.checkpoint_config` takes it from the one preset with these networks
(ted-youtube384's 20 regions: 384) and names the fix where presets of two sizes share them (ted384).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ...checkpoints import CheckpointError, _count, _hourglass, _infer_scale, _max_features, avd_bottlenecks
from ...config import DatasetParams
from ...models.mraa.bg_motion_predictor import BG_PARAMETERS
from ...models.mraa.config import (
    AVDNetworkParams,
    BGPredictorParams,
    MRAAConfig,
    MRAAGeneratorParams,
    MRAAModelParams,
    PixelwiseFlowPredictorParams,
    RegionPredictorParams,
)

_BG_TYPES = {n: name for name, n in BG_PARAMETERS.items()}


def _region_predictor(rp: Mapping[str, torch.Tensor], num_channels: int) -> RegionPredictorParams:
    blocks, widths = _hourglass(rp, "predictor.")
    be = rp["regions.weight"].shape[1] - num_channels
    return RegionPredictorParams(
        block_expansion=int(be), num_blocks=blocks, scale_factor=_infer_scale(rp, "down.weight"),
        max_features=_max_features(widths, be * 2**blocks, RegionPredictorParams.max_features))


def _flow_predictor(gen: Mapping[str, torch.Tensor], num_regions: int,
                    num_channels: int) -> PixelwiseFlowPredictorParams | None:
    prefix = "pixelwise_flow_predictor."
    if f"{prefix}mask.weight" not in gen:
        return None
    blocks, widths = _hourglass(gen, f"{prefix}hourglass.")
    in_features = gen[f"{prefix}hourglass.encoder.down_blocks.0.conv.weight"].shape[1]
    be = gen[f"{prefix}mask.weight"].shape[1] - in_features
    return PixelwiseFlowPredictorParams(
        block_expansion=int(be), num_blocks=blocks, scale_factor=_infer_scale(gen, f"{prefix}down.weight"),
        max_features=_max_features(widths, be * 2**blocks, PixelwiseFlowPredictorParams.max_features),
        use_deformed_source=in_features == (num_regions + 1) * (num_channels + 1),
        estimate_occlusion_map=f"{prefix}occlusion.weight" in gen)


def _generator(gen: Mapping[str, torch.Tensor], num_regions: int, num_channels: int) -> MRAAGeneratorParams:
    be = gen["first.conv.weight"].shape[0]
    n_down = _count(gen, r"down_blocks\.(\d+)\.conv\.weight")
    widths = [gen[f"down_blocks.{i}.conv.weight"].shape[0] for i in range(n_down)]
    return MRAAGeneratorParams(
        block_expansion=int(be), num_down_blocks=n_down,
        max_features=_max_features(widths, be * 2**n_down, MRAAGeneratorParams.max_features),
        num_bottleneck_blocks=_count(gen, r"bottleneck\.r(\d+)\.conv1\.weight"),
        pixelwise_flow_predictor_params=_flow_predictor(gen, num_regions, num_channels))


def _bg_predictor(bg: Mapping[str, torch.Tensor] | None) -> BGPredictorParams:
    if bg is None:
        return BGPredictorParams(bg_type="zero")
    blocks, widths = _hourglass(bg, "")
    be = widths[0] // 2
    outputs = bg["fc.weight"].shape[0]
    if outputs not in _BG_TYPES:
        raise CheckpointError(f"bg_predictor.fc regresses {outputs} numbers: not an MRAA background predictor "
                              f"(shift 2, affine 6, perspective 8)")
    return BGPredictorParams(block_expansion=int(be), num_blocks=blocks, bg_type=_BG_TYPES[outputs],
                             max_features=_max_features(widths, be * 2**blocks, BGPredictorParams.max_features))


def _avd_network(avd: Mapping[str, torch.Tensor] | None) -> AVDNetworkParams:
    if avd is None:
        return AVDNetworkParams()
    return AVDNetworkParams(**avd_bottlenecks(avd))


def infer_mraa_config(state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> MRAAConfig:
    """The config whose networks have exactly these state dicts' keys and shapes."""
    try:
        rp, gen = state_dicts["region_predictor"], state_dicts["generator"]
        num_regions = int(rp["regions.weight"].shape[0])
        num_channels = int(gen["first.conv.weight"].shape[1])
        params = MRAAModelParams(
            num_regions=num_regions, num_channels=num_channels,
            bg_predictor_params=_bg_predictor(state_dicts.get("bg_predictor")),
            region_predictor_params=_region_predictor(rp, num_channels),
            generator_params=_generator(gen, num_regions, num_channels),
            avd_network_params=_avd_network(state_dicts.get("avd_network")))
    except KeyError as exc:
        raise CheckpointError(f"the weights lack {exc}: not an MRAA region predictor/generator") from None
    return MRAAConfig(dataset_params=DatasetParams(frame_shape=[256, 256, num_channels]), model_params=params)
