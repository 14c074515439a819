"""Benchmark: the animator's per-frame work (keypoints of a batch of driving frames, relative
normalization, decoding from the cached source features) eager against ``torch.compile`` (inductor,
freezing: ``Animator(compile=True)``, ``fomm animate --compile``) and against eager with the batch
norms folded into the convolutions (``benchmarks/fold.py``, a prototype kept out of the library),
batches alternating in one process.

    python benchmarks/compile.py --config vox-256 --batches 8     # vox-256 architecture, random weights
    python benchmarks/compile.py --config default --batches 40    # the bundled 64 px model

Reports the compile time (the first compiled batch, apart; inductor caches compiled code on disk,
so a second run of the same model compiles faster: ``--cache-dir`` picks the cache, an empty folder
for a cold compile), the steady seconds per batch of each variant (median of the alternating
batches) with its ratio to eager, the frames' max abs difference against eager, and how many frames
the compile time pays back (compile seconds / seconds saved per frame). Random weights get random
batch-norm statistics, so that folding changes the weights. The CPU and the load average are
printed with the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="vox-256", help="a preset (random weights) or 'default' (bundled)")
    parser.add_argument("--batches", type=int, default=8, help="timed batches per variant, alternating")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default="compiled,folded", help="besides eager: compiled, folded")
    parser.add_argument("--cache-dir", help="inductor's cache folder (default: a fresh one: a cold compile)")
    args = parser.parse_args()
    cache = args.cache_dir or tempfile.mkdtemp(prefix="fomm-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # before inductor is imported

    import torch
    from fold import folded_copy  # benchmarks/fold.py

    import fomm
    from fomm.animation.backend import TorchBackend
    from fomm.animation.compiled import CompiledBackend
    from fomm.animation.normalize import normalize_kp
    from fomm.precision import cpu_features

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = fomm.load_model(args.config, device="cpu").float().eval()
    if args.config != "default":
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.1, 0.1)
                    module.running_var.uniform_(0.5, 2.0)
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.1, 0.1)
    size, batch = model.config.frame_size, args.batch_size
    generator = torch.Generator().manual_seed(0)
    source_image = torch.rand(1, 3, size, size, generator=generator)
    driving = torch.rand(batch, 3, size, size, generator=generator)

    variants = ["eager"] + [v for v in args.variants.split(",") if v and v != "eager"]
    backends = {"eager": TorchBackend(model)}
    if "folded" in variants:
        backends["folded"] = TorchBackend(folded_copy(model))
    if "compiled" in variants:
        backends["compiled"] = CompiledBackend(TorchBackend(model), batch)

    def setup(backend):
        with torch.inference_mode():
            source = backend.to_input(source_image)
            return source, backend.keypoints(source), backend.encode_source(source)

    prepared = {name: setup(backend) for name, backend in backends.items()}

    def step(name):
        backend = backends[name]
        source, kp_source, features = prepared[name]
        with torch.inference_mode():
            kp = backend.keypoints(backend.to_input(driving))
            kp = normalize_kp(kp_source, kp, kp[:1], use_relative_movement=True, use_relative_jacobian=True)
            return backend.decode(features, source, kp, kp_source)

    reference = step("eager")
    first = {}
    outputs = {}
    for name in variants[1:]:
        start = time.perf_counter()
        outputs[name] = step(name)
        first[name] = time.perf_counter() - start
    times = {name: [] for name in variants}
    for _ in range(args.batches):
        for name in variants:
            start = time.perf_counter()
            step(name)
            times[name].append(time.perf_counter() - start)

    load = os.getloadavg()
    eager = statistics.median(times["eager"])
    print(f"\nCPU: {cpu_features().describe()}, {os.cpu_count()} logical CPUs; load average during the run "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{args.config} ({size} px), batch {batch}, {args.threads} threads, torch {torch.__version__}, "
          f"{args.batches} batches per variant, alternating; inductor cache {cache}")
    print(f"{'variant':<9} | {'first batch s':>13} | {'s/batch':>8} | {'frames/s':>8} | {'vs eager':>8} | "
          f"{'max abs diff':>12} | {'pays back after':>15}")
    print("-" * 93)
    for name in variants:
        median = statistics.median(times[name])
        diff = (outputs[name] - reference).abs().max().item() if name in outputs else 0.0
        payback = "-"
        if name == "compiled":
            saved = (eager - median) / batch
            payback = f"{(first[name] - median) / saved:.0f} frames" if saved > 0 else "never"
        print(f"{name:<9} | {first.get(name, float('nan')):13.1f} | {median:8.3f} | {batch / median:8.2f} | "
              f"{eager / median:7.3f}x | {diff:12.2e} | {payback:>15}")
    print("first batch: the variant's first call (for compiled: inductor's compile time plus one batch)")


if __name__ == "__main__":
    main()
