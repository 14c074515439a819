"""Motion Representations for Articulated Animation (MRAA; Siarohin et al., CVPR 2021): the published
``vox256``, ``taichi256``, ``ted384``, ``ted-youtube384`` and ``mgif256`` checkpoints, whose
networks (``fomm.models.mraa``) are written from the paper and checked against the authors' numbers."""

from __future__ import annotations

from collections.abc import Collection

from ...models.mraa.config import MRAAConfig, parse_mraa_config
from .. import Family
from .infer import infer_mraa_config

PRESETS = ("mraa-vox-256", "mraa-taichi-256", "mraa-ted-384", "mraa-ted-youtube-384", "mraa-mgif-256")


def _build_model(config: MRAAConfig, networks: Collection[str] = ("generator", "region_predictor")):
    from ...models.mraa import MRAA

    return MRAA(config, networks)


def _make_backend(model, *, precision="fp32", channels_last=None, allow_slow=False):
    from .backend import MRAABackend

    return MRAABackend(model, precision=precision, channels_last=channels_last, allow_slow=allow_slow)


def _describe_motion(config: MRAAConfig) -> str:
    bg = config.model_params.bg_predictor_params.bg_type
    background = "" if bg == "zero" else f", {bg} background motion"
    return f"{config.model_params.num_regions} regions{background}"


FAMILY = Family(
    name="mraa",
    title="Motion Representations for Articulated Animation (Siarohin et al., CVPR 2021)",
    sentinels=frozenset({"generator", "region_predictor"}),
    networks=("generator", "region_predictor", "bg_predictor", "avd_network"),
    required=("generator", "region_predictor"),
    optimizer_keys=("optimizer_reconstruction", "optimizer_avd"),
    epoch_keys=("epoch_reconstruction", "epoch_avd"),
    config_keys=frozenset({"region_predictor_params"}),
    modes=("relative", "absolute", "avd"),
    default_mode="avd",  # the published demo's
    parse_config=parse_mraa_config,
    infer_config=infer_mraa_config,
    build_model=_build_model,
    make_backend=_make_backend,
    config_type=MRAAConfig,
    describe_motion=_describe_motion,
    default_adapt_scale=True,  # the demo's relative mode always scales by the region hulls
    presets=PRESETS,
)
