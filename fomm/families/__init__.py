"""Model families: FOMM and its successors (TPSMM, MRAA), each described once.

A :class:`Family` says how to recognize a family's checkpoint (its sentinel top-level keys), which
networks, optimizer and epoch keys its files hold, how to parse, infer and build its config and
model, and how to run it (its animation backend). Everything that depends on the family
(``read_checkpoint``, ``load_model``, ``fomm info``, the animator) looks it up here, so foreign
checkpoint formats are recognized in one place, by their keys (as diffusers' single-file loader).

A family lives in ``fomm/families/<name>.py`` as a module-level ``FAMILY``; the modules are imported
on first use, so importing :mod:`fomm` stays cheap and a family module may import the checkpoint
and model code freely.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import config as _fomm_config

# Every family module, in detection order when two match equally (the most specific sentinels win).
_MODULES = ("fomm", "tpsmm", "mraa")
_REGISTRY: dict[str, Family] = {}


@dataclass(frozen=True)
class Family:
    """One model family: what identifies its files and how to build and run its models."""

    name: str  # "fomm" | "tpsmm" | "mraa": the value of ``model.family``
    title: str  # the paper, for people
    sentinels: frozenset[str]  # top-level checkpoint keys that, all present, identify the family
    networks: tuple[str, ...]  # every network a checkpoint may hold, in the published key order
    required: tuple[str, ...]  # the networks inference cannot do without
    optimizer_keys: tuple[str, ...]  # top-level keys holding optimizer states, kept through convert
    epoch_keys: tuple[str, ...]  # top-level keys holding the epoch (the first present is read)
    config_keys: frozenset[str]  # ``model_params`` sections that identify the family's YAML
    modes: tuple[str, ...]  # animation modes
    default_mode: str  # the mode of the family's published demo
    parse_config: Callable[[dict], Any]  # plain (YAML) data -> the family's typed config
    infer_config: Callable[[Mapping[str, Mapping[str, Any]]], Any]  # state dicts -> config (shapes only)
    build_model: Callable[[Any, Collection[str]], Any]  # (config, network names) -> model (nn.Module)
    make_backend: Callable[..., Any]  # (model, precision=, channels_last=, allow_slow=) -> Backend
    config_type: type  # the class of its typed config (fomm.config.Config for FOMM)
    describe_motion: Callable[[Any], str]  # config -> its motion representation, "10 keypoints"
    default_adapt_scale: bool = False  # relative mode's scale adaptation when the user says nothing
    training_networks: tuple[str, ...] = ()  # networks only training uses (FOMM's discriminator)
    presets: tuple[str, ...] = ()  # bundled config names (fomm/configs/<name>.yaml)

    def inference_networks(self, present: Iterable[str] | None = None) -> tuple[str, ...]:
        """The networks to build for inference: those ``present`` (default: all), minus training's."""
        names = self.networks if present is None else [n for n in self.networks if n in set(present)]
        return tuple(n for n in names if n not in self.training_networks)

    def available_modes(self, networks: Iterable[str]) -> tuple[str, ...]:
        """The modes a model holding ``networks`` animates in: ``avd`` needs the AVD network."""
        present = set(networks)
        return tuple(m for m in self.modes if m != "avd" or "avd_network" in present)

    def describe_sentinels(self) -> str:
        return " + ".join(f"'{k}'" for k in sorted(self.sentinels))


def _load_modules() -> None:
    for module in _MODULES:
        qualified = f"{__name__}.{module}"
        try:
            family = importlib.import_module(qualified).FAMILY
        except ModuleNotFoundError as exc:
            if exc.name == qualified:  # a family not written yet; anything missing inside it is a bug
                continue
            raise
        _REGISTRY.setdefault(family.name, family)


def families() -> list[Family]:
    """Every registered family, FOMM first."""
    if not _REGISTRY:
        _load_modules()
    return list(_REGISTRY.values())


def get_family(name: str) -> Family:
    """The family called ``name``; a ValueError lists the known ones."""
    for family in families():
        if family.name == name:
            return family
    raise ValueError(f"unknown model family {name!r}; known: {', '.join(f.name for f in families())}")


def network_names() -> frozenset[str]:
    """Every network name of every family (the heads of a flat ``<network>.<key>`` state dict)."""
    return frozenset(n for family in families() for n in family.networks)


def detect_family(keys: Iterable[str]) -> Family | None:
    """The family whose sentinel keys are all among ``keys`` (a checkpoint's top-level keys or the
    networks of a flat state dict); the most specific match wins; None when no family matches."""
    present = set(keys)
    matches = [f for f in families() if f.sentinels <= present]
    return max(matches, key=lambda f: len(f.sentinels), default=None)


def expected_keys() -> str:
    """What each family's checkpoint holds, for error messages."""
    return "; ".join(f"{f.describe_sentinels()} ({f.name})" for f in families())


def detect_config_family(data: Mapping[str, Any]) -> Family:
    """The family of a config given as plain data, by its ``model_params`` sections (FOMM when none
    matches, so that FOMM's own error messages name what is wrong)."""
    model_params = data.get("model_params") if isinstance(data, Mapping) else None
    sections = set(model_params) if isinstance(model_params, Mapping) else set()
    for family in families():
        if family.config_keys and family.config_keys <= sections:
            return family
    return get_family("fomm")


def read_config(name_or_path: str | Path) -> tuple[Family, Any]:
    """A config of any family (:func:`fomm.config.load_config`) and the family it belongs to."""
    config = _fomm_config.load_config(name_or_path)
    return config_family(config), config


def presets_with_networks(config: Any) -> list[tuple[str, Any]]:
    """The bundled presets of ``config``'s family whose networks are ``config``'s (equal
    ``model_params``): what a config inferred from tensor shapes may stand for."""
    matches = []
    for name in config_family(config).presets:
        preset = read_config(name)[1]
        if preset.model_params == config.model_params:
            matches.append((name, preset))
    return matches


def identify_preset(config: Any) -> Any:
    """A config inferred from tensor shapes, completed by the presets: the one bundled preset with
    these networks when there is exactly one (its frame size, which leaves no trace in the weights,
    its description and training values), else ``config`` itself."""
    matches = presets_with_networks(config)
    return matches[0][1] if len(matches) == 1 else config


def frame_size_note(config: Any) -> str | None:
    """For a config inferred from tensor shapes: None when every bundled preset with these networks
    has its frame size; else the sizes those presets differ in, the one assumed and how to give
    another (the published TED checkpoints are 384 px, with the networks of the 256 px ones)."""
    matches = presets_with_networks(config)
    size = config.frame_size
    others = [(name, preset.frame_size) for name, preset in matches if preset.frame_size != size]
    if not others:
        return None
    by_size: dict[int, list[str]] = {}
    for name, preset in matches:
        by_size.setdefault(preset.frame_size, []).append(name)
    sizes = " and ".join(f"{', '.join(names)} ({px} px)" for px, names in by_size.items())
    fixes = "; ".join(f"for a {name} model pass --config {name} or --size {px}" for name, px in others)
    return (f"no config is stored and the networks are those of {sizes}: running at {size} px; {fixes}")


def config_family(config: Any) -> Family:
    """The family whose typed config ``config`` is."""
    for family in families():
        if isinstance(config, family.config_type):
            return family
    raise TypeError(f"not a model config of any family: {type(config).__name__}")


def family_of(model: Any) -> Family:
    """The family of a loaded model (its ``family`` attribute; FOMM for models that predate it)."""
    return get_family(getattr(model, "family", "fomm"))


def backend_for(model: Any, *, precision: Any = "fp32", channels_last: bool | None = None,
                allow_slow: bool = False) -> Any:
    """The animation backend (:class:`fomm.animation.backend.Backend`) that runs ``model``'s networks
    at ``precision`` (see :mod:`fomm.precision`), with channels-last weights when asked (default: on
    CPU and CUDA)."""
    return family_of(model).make_backend(model, precision=precision, channels_last=channels_last,
                                         allow_slow=allow_slow)


__all__ = ["Family", "backend_for", "detect_config_family", "detect_family", "expected_keys", "families",
           "config_family", "family_of", "frame_size_note", "get_family", "identify_preset", "network_names",
           "presets_with_networks", "read_config"]
