"""The First Order Motion Model family (Siarohin et al., NeurIPS 2019): the published ``*-cpk.pth.tar``
files and ours. Wraps :mod:`fomm.model`, :func:`fomm.checkpoints.infer_model_params` and
:class:`fomm.animation.backend.TorchBackend`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..config import PRESETS, Config, parse_config
from . import Family


def _infer_config(state_dicts: Mapping[str, Mapping[str, Any]]) -> Config:
    from ..checkpoints import avd_bottlenecks, infer_model_params
    from ..config import AVDNetworkParams

    params = infer_model_params(state_dicts)
    avd = state_dicts.get("avd_network")
    if avd is not None and "id_encoder.9.weight" in avd:  # our AVD stage's network (fomm.models.avd)
        params.avd_network_params = AVDNetworkParams(**avd_bottlenecks(avd))
    return Config(model_params=params)


def _build_model(config: Config, networks: Collection[str] = ("generator", "kp_detector")):
    from ..model import FOMM

    # The AVD network exists once its stage has been trained (its config section is set then): a preset
    # (FOMM has no published AVD) builds none.
    with_avd = "avd_network" in networks and config.model_params.avd_network_params is not None
    return FOMM(config, with_discriminator="discriminator" in networks, with_avd=with_avd)


def _make_backend(model, *, precision="fp32", channels_last=None, allow_slow=False):
    from ..animation.backend import TorchBackend

    return TorchBackend(model, precision=precision, channels_last=channels_last, allow_slow=allow_slow)


FAMILY = Family(
    name="fomm",
    title="First Order Motion Model (Siarohin et al., NeurIPS 2019)",
    sentinels=frozenset({"generator", "kp_detector"}),
    networks=("generator", "kp_detector", "discriminator", "avd_network"),  # avd_network: our AVD stage's
    required=("generator", "kp_detector"),
    optimizer_keys=("optimizer_generator", "optimizer_kp_detector", "optimizer_discriminator", "optimizer_avd"),
    epoch_keys=("epoch",),
    config_keys=frozenset({"kp_detector_params"}),
    modes=("relative", "absolute", "avd"),  # avd with an AVD network (fomm train --stage avd)
    default_mode="relative",
    parse_config=parse_config,
    infer_config=_infer_config,
    build_model=_build_model,
    make_backend=_make_backend,
    config_type=Config,
    describe_motion=lambda config: f"{config.model_params.common_params.num_kp} keypoints",
    training_networks=("discriminator",),
    default_adapt_scale=False,
    presets=PRESETS,
)
