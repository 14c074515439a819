"""The Thin-Plate Spline Motion Model family (Zhao & Zhang, CVPR 2022): the published ``vox.pth.tar``,
``taichi.pth.tar``, ``ted.pth.tar``, ``mgif.pth.tar`` and ours."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import torch

from ...checkpoints import CheckpointError, _count, _infer_scale, _max_features, avd_bottlenecks
from .. import Family
from .config import (
    AVDNetworkParams,
    InpaintingParams,
    TPSCommonParams,
    TPSDenseMotionParams,
    TPSMMConfig,
    TPSModelParams,
    parse_tpsmm_config,
)
from .model import NETWORKS, REQUIRED, TPSMM

PRESETS = ("tpsmm-vox-256", "tpsmm-taichi-256", "tpsmm-ted-384", "tpsmm-mgif-256")


def _widths(sd: Mapping[str, torch.Tensor], pattern: str, count: int) -> list[int]:
    return [sd[pattern.format(i)].shape[0] for i in range(count)]


def infer_config(state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> TPSMMConfig:
    """Rebuild ``model_params`` from tensor shapes. The frame size leaves no trace in the weights
    (the keypoint detector is a ResNet): 256 here; :func:`fomm.checkpoints.checkpoint_config` takes it from
    the one preset with these networks (mgif) and names the fix where presets of two sizes share them."""
    kp, dm, gen = (state_dicts[n] for n in ("kp_detector", "dense_motion_network", "inpainting_network"))
    try:
        num_tps = kp["fg_encoder.fc.weight"].shape[0] // 10
        num_channels = gen["first.conv.weight"].shape[1]
        resnet_width = kp["fg_encoder.conv1.weight"].shape[0]  # the ResNet-18's stem: its base width
        gen_be = gen["first.conv.weight"].shape[0]
        n_down = _count(gen, r"down_blocks\.(\d+)\.conv\.weight")
        generator = InpaintingParams(
            block_expansion=int(gen_be), num_down_blocks=n_down,
            max_features=_max_features(_widths(gen, "down_blocks.{}.conv.weight", n_down), gen_be * 2**n_down,
                                       InpaintingParams.max_features))
        dm_blocks = _count(dm, r"hourglass\.encoder\.down_blocks\.(\d+)\.conv\.weight")
        dm_be = dm[f"hourglass.decoder.up_blocks.{dm_blocks - 1}.conv.weight"].shape[0]
        dense = TPSDenseMotionParams(
            block_expansion=int(dm_be), num_blocks=dm_blocks,
            max_features=_max_features(_widths(dm, "hourglass.encoder.down_blocks.{}.conv.weight", dm_blocks),
                                       dm_be * 2**dm_blocks, TPSDenseMotionParams.max_features),
            scale_factor=_infer_scale(dm, "down.weight"))
        avd = AVDNetworkParams(**avd_bottlenecks(state_dicts["avd_network"])) if "avd_network" in state_dicts \
            else AVDNetworkParams()
    except KeyError as exc:
        raise CheckpointError(f"the weights lack {exc}: not TPSMM networks") from None
    # multi_mask: four occlusion masks instead of one (its up blocks exist only below full scale).
    common = TPSCommonParams(num_tps=int(num_tps), num_channels=int(num_channels), bg="bg_predictor" in state_dicts,
                             multi_mask=_count(dm, r"occlusion\.(\d+)\.weight") > 1, resnet_width=int(resnet_width))
    return TPSMMConfig(model_params=TPSModelParams(common, generator, dense, avd))


def _build_model(config: TPSMMConfig, networks: Collection[str] = NETWORKS) -> TPSMM:
    return TPSMM(config, networks)


def _make_backend(model: TPSMM, **options):
    from .backend import TPSMMBackend

    return TPSMMBackend(model, **options)


def _describe(config: TPSMMConfig) -> str:
    k = config.model_params.common_params.num_tps
    return f"{k} TPS transforms ({5 * k} keypoints)"


FAMILY = Family(
    name="tpsmm",
    title="Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022)",
    sentinels=frozenset(REQUIRED),
    networks=NETWORKS,
    required=REQUIRED,
    optimizer_keys=("optimizer", "optimizer_bg_predictor", "optimizer_avd"),
    epoch_keys=("epoch",),
    config_keys=frozenset({"generator_params", "dense_motion_params", "avd_network_params"}),
    modes=("relative", "absolute", "avd"),
    default_mode="relative",
    parse_config=parse_tpsmm_config,
    infer_config=infer_config,
    build_model=_build_model,
    make_backend=_make_backend,
    config_type=TPSMMConfig,
    describe_motion=_describe,
    default_adapt_scale=True,  # the demo's relative mode always scales by the keypoint hulls
    presets=PRESETS,
)
