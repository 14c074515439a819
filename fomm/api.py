"""Loading a ready-to-run model: ``load_model(name_or_path, device=None)``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from .checkpoints import CheckpointError, checkpoint_config, load_state_dicts, read_checkpoint
from .config import Config, available_configs
from .families import Family, config_family, frame_size_note, get_family, presets_with_networks, read_config
from .words import WordedError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"


def default_checkpoint_path() -> Path:
    """The small model that ships inside the package, trained on our synthetic motion data."""
    return Path(str(resources.files("fomm") / "assets" / "default.safetensors"))


def available_models() -> list[str]:
    """Names ``load_model`` accepts besides a file path: the bundled model and the config presets
    (presets give the published architecture with fresh, untrained weights)."""
    return [DEFAULT_MODEL, *available_configs()]


class DeviceError(WordedError, RuntimeError):
    """The requested device is not on this machine; the fix is worded for the caller (``--device cpu``,
    ``device='cpu'``)."""


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """The requested device, else CUDA, then Apple MPS, then CPU. A device this machine lacks raises
    :class:`DeviceError`; a misspelt one torch's RuntimeError."""
    if requested is not None and str(requested) != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError(lambda w: f"CUDA was requested but is not available; use {w.setting('device', 'cpu')}")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{device} was requested but this machine has {torch.cuda.device_count()} CUDA "
                              f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise DeviceError(lambda w: f"MPS was requested but is not available; use {w.setting('device', 'cpu')}")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class ModelSource:
    """Where a model name or path leads (see :func:`resolve_model`)."""

    name: str  # as the user gave it
    path: Path | None  # the checkpoint file; None for a preset
    preset: str | None = None  # a config preset: the published architecture with untrained weights

    @property
    def bundled(self) -> bool:
        """The small model that ships with fomm."""
        return self.name == DEFAULT_MODEL


def resolve_model(name_or_path: str | Path = DEFAULT_MODEL) -> ModelSource:
    """The one place that turns what a user gives for a model into a checkpoint file or a preset.

    ``"default"``: the bundled model; an existing file: that checkpoint; a config preset name
    (``vox-256``): its architecture with untrained weights. Every command that takes a model goes
    through here, so all accept the same names.
    """
    text = str(name_or_path)
    if text == DEFAULT_MODEL:
        path = default_checkpoint_path()
        if not path.exists():
            raise CheckpointError(f"the bundled model is missing from the installation ({path}); reinstall fomm")
        return ModelSource(text, path)
    path = Path(name_or_path)
    if path.exists():
        return ModelSource(text, path)
    if text in available_configs():
        return ModelSource(text, None, preset=text)
    raise CheckpointError(f"checkpoint not found: {name_or_path} (give a checkpoint file such as vox-cpk.pth.tar, "
                          f"or one of: {', '.join(available_models())})")


PUBLISHED_HINT = ("pass --checkpoint with a published checkpoint for real footage (vox-cpk.pth.tar for faces, "
                  "taichi-cpk.pth.tar for full bodies)")


def training_description(config: Config) -> str | None:
    """What the model was trained on: the config's ``description``, else that of the preset it was
    trained from (a checkpoint written before descriptions existed stores the preset's networks)."""
    if getattr(config, "description", None):
        return config.description
    for name in config_family(config).presets:
        preset = read_config(name)[1]
        if (preset.description and preset.model_params == config.model_params
                and preset.frame_size == config.frame_size):
            return preset.description
    return None


def describe_model(config: Config, source: ModelSource, config_stored: bool = True) -> str:
    """One line on what a model is, from its config: which model, what it was trained on, its frame size.
    ``config_stored``: False when the config was inferred from tensor shapes (the frame size is assumed)."""
    if source.bundled:
        what = "the bundled default model"
    elif source.preset is not None:
        what = f"the {source.preset} architecture with untrained weights"
    else:
        what = f"{source.path.name if source.path else source.name}"
    details = []
    description = training_description(config)
    if description:
        details.append(f"trained on {description}")
    details.append(f"{config.frame_size}x{config.frame_size}" + ("" if config_stored else _inferred_size(config)))
    details.append(config_family(config).describe_motion(config))
    return f"{what} ({', '.join(details)})"


def _inferred_size(config) -> str:
    """How a frame size inferred with the networks is known: as the one preset with them, else assumed."""
    matches = presets_with_networks(config)
    if len(matches) == 1 and frame_size_note(config) is None:
        return f" as {matches[0][0]}"
    return " assumed"


def _resolve_config(config: str | Path | Config | None):
    if config is None or not isinstance(config, (str, Path)):
        return config
    return read_config(config)[1]


def _check_config_family(config, family: Family, name: str) -> None:
    given = config_family(config)
    if given is not family:
        raise CheckpointError(f"{name} holds {family.title} ({family.name}) networks but the config is a "
                              f"{given.name} config; drop --config to use the checkpoint's own, or pass a "
                              f"{family.name} config ({', '.join(family.presets) or 'its training YAML'}).")


def load_model(name_or_path: str | Path = DEFAULT_MODEL, config: str | Path | Config | None = None,
               device: str | torch.device | None = None, align_corners: bool | None = None,
               with_discriminator: bool = False, size: int | None = None) -> nn.Module:
    """Build a model of any family (FOMM, TPSMM, MRAA: see :mod:`fomm.families`) ready for inference
    (eval mode, on ``device``). The model's ``family`` and ``config`` say what it is.

    ``name_or_path``: a checkpoint file (``vox-cpk.pth.tar``, ``.safetensors``, ...), ``"default"``
    for the bundled model, or a preset name (``vox-256``) for untrained weights (see
    :func:`resolve_model`). ``config``: a preset name, YAML path or :class:`Config`; when omitted it
    comes from the checkpoint (stored, or inferred from tensor shapes). A config that disagrees with
    the checkpoint raises :class:`CheckpointError` listing the keys and shapes that differ.
    ``align_corners``: grid_sample semantics; default from the config (True, as published).
    ``with_discriminator``: also build the networks only training uses (FOMM's discriminator).
    ``size``: the frame size the caller runs at (``--size``), if it gives one; without it, a checkpoint
    with no config whose networks are those of presets of different frame sizes (the published TED
    ones) logs a warning naming the fix (:func:`fomm.families.frame_size_note`).
    """
    source = resolve_model(name_or_path)
    cfg = _resolve_config(config)
    if source.path is not None:
        ckpt = read_checkpoint(source.path)
        family = get_family(ckpt.family)
        if cfg is None:
            cfg, stored = checkpoint_config(ckpt)
            note = None if stored or size is not None else frame_size_note(cfg)
            if note:
                logger.warning("%s: %s", source.path.name, note)
        _check_config_family(cfg, family, source.path.name)
        names = family.networks if with_discriminator else family.inference_networks()
        model = family.build_model(cfg, [n for n in names if n in ckpt.state_dicts])
        load_state_dicts(model.networks(), ckpt, f"checkpoint {source.path.name}", config_given=config is not None)
    else:
        family, preset = read_config(source.preset)
        cfg = cfg or preset
        _check_config_family(cfg, family, source.preset)
        logger.warning("%s: preset architecture with untrained weights", source.preset)
        model = family.build_model(cfg, family.networks if with_discriminator else family.inference_networks())
    if align_corners is not None:
        model.set_align_corners(align_corners)
    return model.to(select_device(device)).eval()
