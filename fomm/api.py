"""Loading a ready-to-run model: ``load_model(name_or_path, device=None)``."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import torch

from .checkpoints import CheckpointError, load_state_dicts, read_checkpoint
from .config import Config, available_configs, load_config
from .model import FOMM

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"


def default_checkpoint_path() -> Path:
    """The small model that ships inside the package, trained on our synthetic motion data."""
    return Path(str(resources.files("fomm") / "assets" / "default.safetensors"))


def available_models() -> list[str]:
    """Names ``load_model`` accepts besides a file path: the bundled model and the config presets
    (presets give the published architecture with fresh, untrained weights)."""
    return [DEFAULT_MODEL, *available_configs()]


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """The requested device, else CUDA, then Apple MPS, then CPU."""
    if requested is not None and str(requested) != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but is not available; use --device cpu")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("MPS was requested but is not available; use --device cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _resolve_config(config: str | Path | Config | None) -> Config | None:
    if config is None or isinstance(config, Config):
        return config
    return load_config(config)


def load_model(name_or_path: str | Path = DEFAULT_MODEL, config: str | Path | Config | None = None,
               device: str | torch.device | None = None, align_corners: bool | None = None,
               with_discriminator: bool = False) -> FOMM:
    """Build a FOMM model ready for inference (eval mode, on ``device``).

    ``name_or_path``: a checkpoint file (``vox-cpk.pth.tar``, ``.safetensors``, ...), ``"default"``
    for the bundled model, or a preset name (``vox-256``) for untrained weights.
    ``config``: a preset name, YAML path or :class:`Config`; when omitted it comes from the
    checkpoint (stored, or inferred from tensor shapes). A config that disagrees with the
    checkpoint raises :class:`CheckpointError` listing the keys and shapes that differ.
    ``align_corners``: grid_sample semantics; default from the config (True, as published).
    """
    cfg = _resolve_config(config)
    path = default_checkpoint_path() if str(name_or_path) == DEFAULT_MODEL else Path(name_or_path)
    if path.exists():
        ckpt = read_checkpoint(path)
        source = f"checkpoint {path.name}"
        if cfg is None:
            cfg = ckpt.config
        if cfg is None:
            from .checkpoints import infer_model_params

            cfg = Config(model_params=infer_model_params(ckpt.state_dicts))
        with_disc = with_discriminator and "discriminator" in ckpt.state_dicts
        model = FOMM(cfg, with_discriminator=with_disc)
        load_state_dicts(model.networks(), ckpt, source)
    elif str(name_or_path) in available_configs():
        cfg = cfg or load_config(str(name_or_path))
        logger.warning("%s: preset architecture with untrained weights", name_or_path)
        model = FOMM(cfg, with_discriminator=with_discriminator)
    elif str(name_or_path) == DEFAULT_MODEL:
        raise CheckpointError(f"the bundled model is missing from the installation ({path}); reinstall fomm")
    else:
        raise CheckpointError(f"checkpoint not found: {name_or_path} (and it is not one of: "
                              f"{', '.join(available_models())})")
    if align_corners is not None:
        model.set_align_corners(align_corners)
    return model.to(select_device(device)).eval()
