"""``fomm info MODEL``: what a checkpoint (or a model name) holds and the config it implies."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..api import ModelSource, describe_model, resolve_model
from ..checkpoints import checkpoint_config, read_checkpoint
from ..families import config_family, frame_size_note, get_family, read_config
from .common import user_errors


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="describe a checkpoint or model name (networks, epoch, config)",
                       description="Show what a model is (what it was trained on, its frame size), the networks "
                                   "and epoch of its checkpoint, and its config. MODEL: a .pth.tar / .pth / "
                                   ".safetensors checkpoint, an exported model folder (fomm export), 'default' "
                                   "(the bundled model) or a preset name.")
    p.add_argument("checkpoint", metavar="MODEL",
                   help="checkpoint file, export folder, 'default' or a preset name (vox-256, ...)")
    p.add_argument("--yaml", action="store_true", help="print the full config as YAML")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if Path(args.checkpoint).is_dir():  # an export folder (fomm export); a run folder is refused below
        from ..export.onnx import METADATA

        if (Path(args.checkpoint) / METADATA).is_file():
            return _describe_export(Path(args.checkpoint), args.yaml)
    with user_errors():
        source = resolve_model(args.checkpoint)
        ckpt = read_checkpoint(source.path) if source.path is not None else None
        if ckpt is None:
            config, stored = read_config(source.preset)[1], True
        else:
            config, stored = checkpoint_config(ckpt)
    family = config_family(config)
    print(f"model: {describe_model(config, source, config_stored=stored)}")
    _print_family(family, family.modes if ckpt is None else family.available_modes(ckpt.state_dicts))
    if ckpt is None:
        print("weights: none (a preset gives the architecture with untrained weights)")
        origin = "the preset"
    else:
        print(f"file: {source.path}")
        for name, sd in ckpt.state_dicts.items():
            params = sum(t.numel() for k, t in sd.items() if t.is_floating_point() and "running" not in k)
            print(f"{name}: {len(sd)} tensors, {params / 1e6:.2f} M values")
        print(f"epoch: {ckpt.epoch if ckpt.epoch is not None else 'unknown'}"
              + (f" ({ckpt.epoch_key})" if ckpt.epoch_key != "epoch" and ckpt.epoch is not None else ""))
        state = ckpt.extra.get("fomm_training_state")  # fomm.training.state.STATE_KEY (not imported: too heavy)
        avd = ckpt.extra.get("fomm_avd_training_state")  # fomm.training.avd.AVD_STATE_KEY
        if isinstance(state, dict) and state.get("batch"):
            print(f"{'reconstruction stage' if isinstance(avd, dict) else 'training'}: stopped after batch "
                  f"{state['batch']} of epoch {state['epoch']} (step {state['global_step']})"
                  + ("" if isinstance(avd, dict) else "; 'epoch' is the last finished one"))
        if isinstance(avd, dict):
            done = avd["epoch"]
            where = (f"stopped after batch {avd['batch']} of epoch {done}" if avd.get("batch")
                     else f"{done} epoch{'' if done == 1 else 's'} done")
            print(f"AVD stage: {where} (step {avd['global_step']})")
        origin = "stored in the checkpoint" if stored else "inferred from tensor shapes"
    print(f"config: {origin}")
    note = None if stored else frame_size_note(config)
    if note:
        print(f"frame size: {note}")
    _describe_motion(family, config, args.yaml)
    return 0


def _describe_export(folder: Path, yaml: bool) -> int:
    """An export of ``fomm export`` (its manifest, checked): the family, the modes its graphs give
    (``avd`` with avd.onnx), the size and graphs."""
    from ..export.manifest import manifest_config, read_manifest

    with user_errors():
        manifest = read_manifest(folder)
        family = get_family(manifest["family"])
        config = manifest_config(folder, manifest, family.parse_config)
    print(f"model: {describe_model(config, ModelSource(str(folder), folder))}")
    _print_family(family, family.available_modes(["avd_network"] if "avd" in manifest["graphs"] else []))
    print(f"export: ONNX at {manifest['size']} px (format {manifest.get('format_version', 1)}, opset "
          f"{manifest.get('opset', '?')}); graphs: {', '.join(g['file'] for g in manifest['graphs'].values())}")
    print(f"folder: {folder}")
    print("config: stored in the export")
    _describe_motion(family, config, yaml)
    return 0


def _print_family(family, modes: tuple[str, ...]) -> None:
    """The family and the modes this model animates in (``avd`` only with its network)."""
    default = family.default_mode if family.default_mode in modes else modes[0]
    print(f"family: {family.name}: {family.title}; modes: {', '.join(modes)} (default {default})")


def _describe_motion(family, config, yaml: bool) -> None:
    if family.name == "fomm":
        mp = config.model_params
        print(f"keypoints: {mp.common_params.num_kp}, jacobian: {mp.common_params.estimate_jacobian}, "
              f"occlusion: {mp.generator_params.estimate_occlusion_map}")
    else:
        print(f"motion: {family.describe_motion(config)}")
    if yaml:
        print(config.to_yaml(), end="")
