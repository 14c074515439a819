"""Reading and writing the checkpoints of every model family (FOMM, TPSMM, MRAA; see :mod:`fomm.families`).

Formats read: the original ``.pth.tar`` dict of each family (FOMM: ``generator``, ``kp_detector``,
``discriminator``, optimizers, ``epoch``; TPSMM: ``kp_detector``, ``dense_motion_network``,
``inpainting_network``, ...), the same with ``module.`` / ``_orig_mod.`` prefixes (DataParallel, DDP,
``torch.compile``), only the networks, a flat state dict with ``<network>.*`` keys, and
``.safetensors``. The family is detected from the networks present. Every torch file is read with
``weights_only=True``: a checkpoint that carries code is refused, never executed.

The model config is taken from the checkpoint (ours store it), else inferred from tensor shapes,
so the checkpoint alone is enough to rebuild the networks.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

from .config import (
    CommonParams,
    ConfigError,
    DenseMotionParams,
    DiscriminatorParams,
    GeneratorParams,
    KPDetectorParams,
    ModelParams,
)
from .errors import FommError
from .families import Family, detect_family, expected_keys, get_family, identify_preset, network_names
from .io.paths import atomic_path

NETWORKS = ("generator", "kp_detector", "discriminator")  # FOMM's (fomm.families.fomm)
OPTIMIZERS = ("optimizer_generator", "optimizer_kp_detector", "optimizer_discriminator")
_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(FommError, ValueError):
    """A checkpoint cannot be used; the message names the file, the problem and the fix."""


@dataclasses.dataclass
class Checkpoint:
    """The contents of a checkpoint file, normalized."""

    state_dicts: dict[str, dict[str, torch.Tensor]]  # network name -> state dict
    config: Any = None  # the family's config, stored with the weights (our files), else None
    epoch: int | None = None
    optimizers: dict[str, Any] = dataclasses.field(default_factory=dict)  # top-level key -> optimizer state
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # scheduler state and such
    family: str = "fomm"  # see fomm.families
    epoch_key: str = "epoch"  # the top-level key the epoch was read from (MRAA: epoch_reconstruction, ...)


# ------------------------------------------------------------------------------------ reading
# Words of torch's weights-only unpickler when a pickle asks for code (a global, a call, an object);
# any other refusal ("Unsupported operand 0") means bytes that are not a pickle at all.
_CODE_REFUSALS = re.compile(r"GLOBAL|global|reduce|new object|Can only build")


def _damaged(path: Path, detail: str) -> CheckpointError:
    return CheckpointError(f"{path}: cannot read the checkpoint ({detail}); the file is truncated or not a "
                           "PyTorch checkpoint: download or copy it again.")


def _torch_load(path: Path, mmap: bool = False) -> Any:
    """``torch.load``, weights only; ``mmap``: tensors memory-mapped, not read, where the file allows it
    (torch's zip format; the legacy format of the 2019 checkpoints is read whole)."""
    if path.is_file() and path.stat().st_size == 0:
        raise _damaged(path, "it is empty, 0 bytes")
    _check_zip_crcs(path, whole=not mmap)
    try:
        if mmap:
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc):
                    raise
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if ("weights only" in text.lower() or "weights_only" in text) and _CODE_REFUSALS.search(text):
            raise CheckpointError(
                f"{path}: refused to load: the file holds Python objects other than tensors and plain "
                "data (a pickle that can run code). fomm only reads weights; re-save the state dicts "
                "with torch.save({'generator': ..., 'kp_detector': ...}) or convert to .safetensors."
            ) from None
        raise _damaged(path, "not a pickle of tensors") from None
    except Exception as exc:  # torch raises many types for damaged files (RuntimeError, EOFError, KeyError...)
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in detail:  # torch's advice to load without it (running the file's code): not ours
            detail = "neither a zip nor a pickle of tensors"
        raise _damaged(path, detail) from None


def _check_zip_crcs(path: Path, whole: bool) -> None:
    """Torch's zip format stores a CRC-32 of every entry, which torch.load does not check: a flipped bit
    in the pickle would build networks of other shapes, one in the weights would animate silently wrong.
    ``whole``: every entry (read anyway by a full load); else the pickles only (a memory-mapped peek)."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return  # the legacy format of the 2019 checkpoints has no checksums
    try:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                if whole or entry.filename.endswith(".pkl"):
                    with archive.open(entry) as data:
                        while data.read(1 << 24):
                            pass
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the disk's failure, not the file's
        raise _damaged(path, f"{exc}" if str(exc) else type(exc).__name__) from None


def _safetensors_load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the safetensors file ({exc}); it is truncated or "
                              "not a safetensors file.") from None
    return tensors, metadata


def _strip_prefixes(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def _split_flat(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    nets: dict[str, dict[str, Any]] = {}
    names = network_names()
    for key, value in _strip_prefixes(flat).items():
        head, _, rest = key.partition(".")
        if head in names and rest:
            nets.setdefault(head, {})[rest] = value
    return nets


def _config_from_text(text: str | None, path: Path, family: Family) -> Any:
    if not text:
        return None
    try:
        return family.parse_config(yaml.safe_load(text))
    except (ConfigError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{path}: the config stored in the checkpoint is invalid: {exc}") from None


def _family(nets: Mapping[str, Any], path: Path, stored: str | None = None) -> Family:
    """The family of a checkpoint holding ``nets``, by its keys (fomm.families.detect_family)."""
    family = detect_family(nets)
    if family is None:
        found = ", ".join(sorted(nets)) or "none"
        raise CheckpointError(
            f"{path} is not a FOMM checkpoint (of any family fomm reads): networks found: {found}; expected "
            f"{expected_keys()}, as in vox-cpk.pth.tar (FOMM) or vox.pth.tar (TPSMM).")
    if stored and stored != family.name:
        raise CheckpointError(f"{path}: its metadata says family '{stored}' but its networks are those of "
                              f"'{family.name}'; the file was edited or mislabelled: re-convert it.")
    missing = [n for n in family.required if n not in nets]
    if missing:
        raise CheckpointError(f"{path}: a {family.name} checkpoint without {' or '.join(missing)} weights; "
                              f"inference needs {', '.join(family.required)}: use a complete checkpoint.")
    return family


def _read_torch(path: Path, mmap: bool = False) -> Checkpoint:
    obj = _torch_load(path, mmap)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} is not a FOMM checkpoint: it holds a {type(obj).__name__}, "
                              "not a dict of state dicts (such as 'generator' and 'kp_detector').")
    obj = _strip_prefixes(obj)
    names = network_names()
    if any(name in obj and isinstance(obj[name], Mapping) for name in names):
        nets = {n: _strip_prefixes(v) for n, v in obj.items() if n in names and isinstance(v, Mapping)}
    else:
        nets = _split_flat(obj)
    family = _family(nets, path)
    nets = {n: nets[n] for n in family.networks if n in nets}  # the family's order; others stay in extra
    text = obj.get("config") if isinstance(obj.get("config"), str) else None
    epoch_key = next((k for k in family.epoch_keys if isinstance(obj.get(k), int)), "epoch")
    optimizers = {k: obj[k] for k in family.optimizer_keys if k in obj}
    extra = {k: v for k, v in obj.items()
             if k not in nets and k not in optimizers and k not in (epoch_key, "config")}
    epoch = obj.get(epoch_key) if isinstance(obj.get(epoch_key), int) else None
    return Checkpoint(nets, _config_from_text(text, path, family), epoch, optimizers, extra, family.name,
                      epoch_key)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read any supported checkpoint file of any family into a :class:`Checkpoint`."""
    ckpt = peek_checkpoint(path, mmap=False)
    for name, sd in ckpt.state_dicts.items():
        _check_tensors(Path(path), name, sd)
    return ckpt


def peek_checkpoint(path: str | Path, *, mmap: bool = True) -> Checkpoint:
    """A checkpoint's family, networks, config and epoch, for a list of checkpoints (the app's): its
    tensors are memory-mapped where the file's format allows it, and not checked; use
    :func:`read_checkpoint` for the weights themselves."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give the checkpoint file (e.g. 00000099-checkpoint.pth.tar)")
    if path.suffix == ".safetensors":
        tensors, metadata = _safetensors_load(path)
        nets = _split_flat(tensors)
        family = _family(nets, path, metadata.get("family"))
        nets = {n: nets[n] for n in family.networks if n in nets}
        config = _config_from_text(metadata.get("config"), path, family)
        epoch = int(metadata["epoch"]) if metadata.get("epoch", "").isdigit() else None
        return Checkpoint(nets, config, epoch, family=family.name)
    return _read_torch(path, mmap)


def _check_tensors(path: Path, name: str, sd: Mapping[str, Any]) -> None:
    """Refuse what would load silently wrong: non-tensors, views that declare more values than their
    storage holds (a stride-0 tensor can claim any shape, and the shape decides the network built), and
    NaN or inf weights (they give black frames with no error)."""
    non_finite = []
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: '{name}' holds non-tensor entries ({key}, ...): not a state dict.")
        stored = value.untyped_storage().nbytes() // max(value.element_size(), 1)
        if value.numel() > stored:
            raise CheckpointError(f"{path}: {name}.{key} declares {value.numel()} values of shape "
                                  f"{tuple(value.shape)} but stores {stored}: the file is damaged or forged; "
                                  "download or copy it again.")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            non_finite.append(f"{name}.{key}")
    if non_finite:
        more = f" and {len(non_finite) - 1} more" if len(non_finite) > 1 else ""
        raise CheckpointError(f"{path}: the weights hold non-finite values (NaN or inf) in {non_finite[0]}{more}: "
                              "the file is damaged or its training diverged; use an earlier checkpoint.")


def checkpoint_config(ckpt: Checkpoint) -> tuple[Any, bool]:
    """The checkpoint's config and whether it was stored (True) or inferred from tensor shapes (False):
    the one bundled preset with these networks when there is one (:func:`fomm.families.identify_preset`),
    else the inferred config (whose frame size :func:`fomm.families.frame_size_note` qualifies)."""
    if ckpt.config is not None:
        return ckpt.config, True
    return identify_preset(get_family(ckpt.family).infer_config(ckpt.state_dicts)), False


# ------------------------------------------------------------------------------ config inference
def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd for m in [rx.match(k)] if m})


def _max_features(widths: list[int], unsaturated: int, default: int) -> int:
    """max_features is visible only when a block reaches it; otherwise keep the published default
    when it is consistent with the shapes (any value >= the widest block builds the same network)."""
    deepest = max(widths)
    if deepest < unsaturated:
        return deepest
    return default if default >= deepest else deepest


def _infer_scale(sd: Mapping[str, torch.Tensor], key: str) -> float:
    """The anti-alias kernel of scale 1/n has size 2*round(4 * (n - 1) / 2) + 1 = 4n - 3."""
    if key not in sd:
        return 1
    size = sd[key].shape[-1]
    if (size + 3) % 4:
        raise CheckpointError(f"cannot infer the scale factor from '{key}' (kernel {tuple(sd[key].shape)})")
    return 1 / ((size + 3) // 4)


def avd_bottlenecks(sd: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """An AVD network's bottleneck sizes from its weights (every family's: the same three MLPs), as
    ``avd_network_params`` keys."""
    return {"id_bottle_size": int(sd["id_encoder.9.weight"].shape[0]),
            "pose_bottle_size": int(sd["pose_encoder.9.weight"].shape[0])}


def _hourglass(sd: Mapping[str, torch.Tensor], prefix: str) -> tuple[int, list[int]]:
    n = _count(sd, rf"{re.escape(prefix)}encoder\.down_blocks\.(\d+)\.conv\.weight")
    widths = [sd[f"{prefix}encoder.down_blocks.{i}.conv.weight"].shape[0] for i in range(n)]
    return n, widths


def infer_model_params(state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> ModelParams:
    """Rebuild ``model_params`` from tensor shapes (what a bare published checkpoint needs).

    Values that leave no trace in the weights (temperature, kp_variance, pad) take the published
    defaults.
    """
    kp, gen = state_dicts["kp_detector"], state_dicts["generator"]
    try:
        num_kp, kp_in = kp["kp.weight"].shape[:2]
        num_channels = gen["first.conv.weight"].shape[1]
        kp_blocks, kp_widths = _hourglass(kp, "predictor.")
        kp_be = kp_in - num_channels
        jac = kp.get("jacobian.weight")
        common = CommonParams(num_kp=int(num_kp), num_channels=int(num_channels), estimate_jacobian=jac is not None)
        kp_params = KPDetectorParams(
            block_expansion=int(kp_be), num_blocks=kp_blocks,
            max_features=_max_features(kp_widths, kp_be * 2**kp_blocks, KPDetectorParams.max_features),
            scale_factor=_infer_scale(kp, "down.weight"),
            single_jacobian_map=jac is not None and jac.shape[0] == 4 and num_kp != 1)
        gen_be = gen["first.conv.weight"].shape[0]
        n_down = _count(gen, r"down_blocks\.(\d+)\.conv\.weight")
        down_widths = [gen[f"down_blocks.{i}.conv.weight"].shape[0] for i in range(n_down)]
        dense = None
        if "dense_motion_network.mask.weight" in gen:
            dm_blocks, dm_widths = _hourglass(gen, "dense_motion_network.hourglass.")
            dm_be = gen["dense_motion_network.mask.weight"].shape[1] - (num_kp + 1) * (num_channels + 1)
            dense = DenseMotionParams(
                block_expansion=int(dm_be), num_blocks=dm_blocks,
                max_features=_max_features(dm_widths, dm_be * 2**dm_blocks, DenseMotionParams.max_features),
                scale_factor=_infer_scale(gen, "dense_motion_network.down.weight"))
        gen_params = GeneratorParams(
            block_expansion=int(gen_be), num_down_blocks=n_down,
            max_features=_max_features(down_widths, gen_be * 2**n_down, GeneratorParams.max_features),
            num_bottleneck_blocks=_count(gen, r"bottleneck\.r(\d+)\.conv1\.weight"),
            estimate_occlusion_map="dense_motion_network.occlusion.weight" in gen,
            dense_motion_params=dense)
        disc_params = DiscriminatorParams()
        if "discriminator" in state_dicts:
            disc_params = _infer_discriminator(state_dicts["discriminator"], int(num_channels))
    except KeyError as exc:
        raise CheckpointError(f"the weights lack {exc}: not a FOMM keypoint detector/generator") from None
    return ModelParams(common, kp_params, gen_params, disc_params)


def _infer_discriminator(sd: Mapping[str, torch.Tensor], num_channels: int) -> DiscriminatorParams:
    scale_names = sorted({k.split(".")[1] for k in sd if k.startswith("discs.")})
    scales = [float(s.replace("-", ".")) if "-" in s else int(s) for s in scale_names]
    scales.sort(reverse=True)
    first = scale_names[0]
    sn = f"discs.{first}.down_blocks.0.conv.weight_orig" in sd
    wkey = "weight_orig" if sn else "weight"
    n = _count(sd, rf"discs\.{re.escape(first)}\.down_blocks\.(\d+)\.conv\.{wkey}")
    widths = [sd[f"discs.{first}.down_blocks.{i}.conv.{wkey}"].shape[0] for i in range(n)]
    be = widths[0] // 2
    in_ch = sd[f"discs.{first}.down_blocks.0.conv.{wkey}"].shape[1]
    return DiscriminatorParams(scales=scales, block_expansion=be, num_blocks=n, sn=sn,
                               use_kp=in_ch > num_channels,
                               max_features=_max_features(widths, be * 2**n, DiscriminatorParams.max_features))


# ------------------------------------------------------------------------------------ matching
def describe_mismatch(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], name: str) -> list[str]:
    """Differences between a network and a state dict: missing, unexpected and reshaped keys, and
    integer values where the network has floating-point weights (load_state_dict would cast them)."""
    own = model.state_dict()
    lines = []
    for key in own:
        if key not in state_dict:
            lines.append(f"{name}.{key}: in the config's network, missing from the checkpoint")
        elif tuple(own[key].shape) != tuple(state_dict[key].shape):
            lines.append(f"{name}.{key}: config gives {tuple(own[key].shape)}, checkpoint has "
                         f"{tuple(state_dict[key].shape)}")
        elif own[key].is_floating_point() != state_dict[key].is_floating_point():
            wanted = "floating-point" if own[key].is_floating_point() else "integer"
            lines.append(f"{name}.{key}: the checkpoint holds {str(state_dict[key].dtype).removeprefix('torch.')} "
                         f"values where the network has {wanted} ones")
    lines += [f"{name}.{key}: in the checkpoint, not in the config's network" for key in state_dict if key not in own]
    return lines


def load_state_dicts(networks: Mapping[str, torch.nn.Module], ckpt: Checkpoint, source: str = "checkpoint",
                     config_given: bool = True) -> None:
    """Strictly load each network present in both; raise one message listing every difference.
    ``config_given``: the networks were built from a config the user passed (the fix is to drop it),
    not from the one stored in the checkpoint (then the file itself is inconsistent)."""
    problems = []
    for name, net in networks.items():
        if name in ckpt.state_dicts:
            problems += describe_mismatch(net, ckpt.state_dicts[name], name)
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        fix = ("Drop --config to build the networks from the checkpoint itself, or pass the config it was "
               "trained with." if config_given else
               "The config stored in the checkpoint does not fit its own weights: pass --config with the config "
               "it was trained with, or download or copy the file again.")
        raise CheckpointError(f"the config and {source} disagree:\n  {shown}\n{fix}")
    for name, net in networks.items():
        if name in ckpt.state_dicts:
            net.load_state_dict(ckpt.state_dicts[name], strict=True)


# ------------------------------------------------------------------------------------ writing
def save_checkpoint(path: str | Path, networks: Mapping[str, torch.nn.Module], config: Any = None,
                    epoch: int | None = None, optimizers: Mapping[str, Any] | None = None,
                    extra: Mapping[str, Any] | None = None, epoch_key: str = "epoch") -> Path:
    """Write a checkpoint atomically.

    ``.safetensors``: flat ``<network>.<key>`` tensors, config and epoch in the metadata.
    Anything else: the original dict format (which the authors' code loads), plus ``config`` as
    YAML text so that the file alone rebuilds the model. Optimizer states (optimizers, or their
    ``state_dict()`` as read back) go under ``optimizer_<network>`` as in the original (a name that
    already starts with ``optimizer``, such as TPSMM's ``optimizer``, is kept); the epoch under
    ``epoch_key``.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        flat = {f"{n}.{k}": v.detach().cpu().contiguous() for n, net in networks.items()
                for k, v in net.state_dict().items()}
        metadata = {"format": "fomm"}
        family = detect_family(networks)
        if family is not None:
            metadata["family"] = family.name
        if config is not None:
            metadata["config"] = config.to_yaml()
        if epoch is not None:
            metadata["epoch"] = str(epoch)
        with atomic_path(path) as tmp:
            save_file(flat, str(tmp), metadata=metadata)
        return path
    payload: dict[str, Any] = {n: net.state_dict() for n, net in networks.items()}
    for name, opt in (optimizers or {}).items():
        state = opt.state_dict() if hasattr(opt, "state_dict") else opt  # an optimizer, or its saved state
        payload[name if name.startswith("optimizer") else f"optimizer_{name}"] = state
    if epoch is not None:
        payload[epoch_key] = epoch
    if config is not None:
        payload["config"] = config.to_yaml()
    payload.update(extra or {})
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path
