"""``fomm export CKPT --format onnx -o DIR``: the networks as ONNX graphs for apps without PyTorch."""

from __future__ import annotations

import argparse
import time

from .common import frame_size, positive_int, user_errors

FORMATS = ("onnx",)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="export a model as ONNX graphs (keypoints, source encoder, per-frame decoder)",
        description="Export CHECKPOINT as ONNX graphs in DIR: keypoints.onnx, source.onnx (the source features, "
                    "computed once per source), decode.onnx (one batch of driving frames from the cached source "
                    "features) and, for a model with an AVD network, avd.onnx (--mode avd), with dynamic batch, and "
                    "fomm-onnx.json (config, size, align_corners). `fomm animate --backend onnxruntime --model DIR` "
                    "runs them. Needs the extra fomm[onnx].")
    p.add_argument("checkpoint", help="checkpoint file (.pth.tar, .pth, .safetensors), 'default' or a preset name")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="export format (default: onnx)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the graphs to")
    p.add_argument("--config", metavar="NAME|PATH",
                   help="config preset or YAML; default: the one stored in (or inferred from) the checkpoint")
    p.add_argument("--size", type=frame_size, metavar="PX",
                   help="square frame size the graphs run at (fixed in the graphs); default: the model's training "
                        "size")
    p.add_argument("--align-corners", action=argparse.BooleanOptionalAction, default=None,
                   help="grid_sample semantics baked into the graphs; default from the config")
    p.add_argument("--opset", type=positive_int, default=None, help="ONNX opset (>= 16 for GridSample; default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..api import load_model
    from ..export.onnx import OPSET, export_onnx
    from ..io.outputs import check_folder_output

    with user_errors():
        # before the model is loaded: a user's folder is never replaced, an input never written
        check_folder_output(args.output, overwrite=args.overwrite, inputs=(args.checkpoint,))
        start = time.perf_counter()
        model = load_model(args.checkpoint, config=args.config, device="cpu", align_corners=args.align_corners)
        out = export_onnx(model, args.output, size=args.size, opset=args.opset or OPSET, overwrite=args.overwrite)
    files = sorted(p.name for p in out.glob("*.onnx"))
    print(f"exported {', '.join(files)} in {time.perf_counter() - start:.1f} s -> {out}")
    return 0
