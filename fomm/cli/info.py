"""``fomm info CHECKPOINT``: what a checkpoint holds and the config it implies."""

from __future__ import annotations

import argparse

from ..checkpoints import infer_model_params, read_checkpoint
from ..config import Config
from .common import user_errors


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="describe a checkpoint (networks, epoch, config)",
                       description="Show the networks, epoch and model config of a checkpoint file.")
    p.add_argument("checkpoint", help="a .pth.tar / .pth / .safetensors checkpoint")
    p.add_argument("--yaml", action="store_true", help="print the full config as YAML")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with user_errors():
        ckpt = read_checkpoint(args.checkpoint)
        config = ckpt.config or Config(model_params=infer_model_params(ckpt.state_dicts))
    for name, sd in ckpt.state_dicts.items():
        params = sum(t.numel() for k, t in sd.items() if t.is_floating_point() and "running" not in k)
        print(f"{name}: {len(sd)} tensors, {params / 1e6:.2f} M values")
    print(f"epoch: {ckpt.epoch if ckpt.epoch is not None else 'unknown'}")
    state = ckpt.extra.get("fomm_training_state")  # fomm.training.state.STATE_KEY (not imported: too heavy)
    if isinstance(state, dict) and state.get("batch"):
        print(f"training: stopped after batch {state['batch']} of epoch {state['epoch']} "
              f"(step {state['global_step']}); 'epoch' is the last finished one")
    print(f"config: {'stored in the checkpoint' if ckpt.config else 'inferred from tensor shapes'}")
    mp = config.model_params
    print(f"keypoints: {mp.common_params.num_kp}, jacobian: {mp.common_params.estimate_jacobian}, "
          f"occlusion: {mp.generator_params.estimate_occlusion_map}")
    if args.yaml:
        print(config.to_yaml(), end="")
    return 0
