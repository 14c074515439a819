"""Benchmark: face detectors' recall and box accuracy on real photographs under known transforms.

    python benchmarks/detectors.py              # every condition, both photos, 2 placements each
    python benchmarks/detectors.py --quick      # one placement

Scenes (tests/crop/scenes.py ``transformed``): scikit-image's two photographs with a face, the
astronaut (frontal) and the cameraman (three-quarter view), their faces' centres and sizes read off
the pictures by eye, each rolled, turned by a perspective warp, scaled down and darkened, one
factor at a time and all together, placed among clutter (real textures and a cat's face) in a
640x480 frame. The true face box comes from the same transform. A face counts as found when a box
holds its true centre and has its size within 0.5-2x; ``centre err`` is the median distance of the
found box's centre from the truth over the true size, ``size`` the median ratio of the box's larger
side to the true brow-to-chin size; ``extra`` counts boxes that hold no face (false positives).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.crop import cpu_description  # noqa: E402
from fomm.crop import available_backends, detect_faces  # noqa: E402
from tests.crop.scenes import PHOTO_FACES, found, transformed  # noqa: E402

CONDITIONS = {  # name: the transform's arguments
    "upright, 90 px": {},
    "rolled 20 deg": {"roll": 20},
    "rolled 35 deg": {"roll": 35},
    "rolled 50 deg": {"roll": 50},
    "turned 0.4": {"turn": 0.4},
    "turned 0.6": {"turn": 0.6},
    "turned 0.8": {"turn": 0.8},
    "small, 32 px": {"face_px": 32},
    "small, 24 px": {"face_px": 24},
    "small, 18 px": {"face_px": 18},
    "dark, 0.35": {"light": 0.35},
    "dark, 0.15": {"light": 0.15},
    "all: 25 deg, 0.4, 40 px, 0.5": {"roll": 25, "turn": 0.4, "face_px": 40, "light": 0.5},
}
PLACES = [(0.5, 0.45), (0.3, 0.6)]


def run(detectors: list[str], places: list[tuple[float, float]]) -> dict[str, dict[str, list]]:
    results: dict[str, dict[str, list]] = {d: {c: [] for c in CONDITIONS} for d in detectors}
    for condition, arguments in CONDITIONS.items():
        for name in PHOTO_FACES:
            for seed, at in enumerate(places):
                image, center, size = transformed(name, at=at, seed=seed, **arguments)
                for detector in detectors:
                    start = time.process_time()  # CPU time: other jobs on the machine change it less
                    boxes = detect_faces(image, backend=detector)
                    seconds = time.process_time() - start
                    box = found(boxes, center, size)
                    error = ratio = None
                    if box is not None:
                        error = float(np.hypot(box.center[0] - center[0], box.center[1] - center[1]) / size)
                        ratio = max(box.w, box.h) / size
                    results[detector][condition].append((box is not None, error, ratio,
                                                         len(boxes) - (box is not None), seconds))
    return results


def table(results: dict[str, dict[str, list]]) -> str:
    detectors = list(results)
    head = "| condition | " + " | ".join(f"{d} found | {d} centre err / size" for d in detectors) + " |"
    lines = [head, "|" + " --- |" * (1 + 2 * len(detectors))]
    totals = {d: [0, 0, 0] for d in detectors}
    for condition in CONDITIONS:
        cells = []
        for d in detectors:
            rows = results[d][condition]
            hits = [r for r in rows if r[0]]
            totals[d][0] += len(hits)
            totals[d][1] += len(rows)
            totals[d][2] += sum(r[3] for r in rows)
            error = f"{np.median([r[1] for r in hits]):.2f} ({np.median([r[2] for r in hits]):.2f}x)" if hits else "-"
            cells += [f"{len(hits)}/{len(rows)}", error]
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    lines.append("| **all** | " + " | ".join(f"**{t[0]}/{t[1]}** | extra boxes: {t[2]}" for t in totals.values())
                 + " |")
    lines.append("")
    lines.append(timing(results))
    return "\n".join(lines)


def timing(results: dict[str, dict[str, list]], baseline: str = "haar") -> str:
    """CPU time per 640x480 frame, each detector against ``baseline`` on the same frames in the same run
    (the median of the per-frame ratios: the ratio holds on a busy machine, the milliseconds less)."""
    seconds = {d: np.array([r[4] for rows in results[d].values() for r in rows]) for d in results}
    parts = []
    for d, times in seconds.items():
        part = f"{d} {np.median(times) * 1000:.0f} ms"
        if baseline in seconds and d != baseline:
            part += f" ({np.median(times / np.maximum(seconds[baseline], 1e-6)):.2f}x {baseline})"
        parts.append(part)
    return "median CPU time per 640x480 frame (one thread, same frames, same run): " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one placement per scene")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    detectors = [d for d in ("yunet", "haar") if d in available_backends()]
    results = run(detectors, PLACES[:1] if args.quick else PLACES)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {cpu_description()}; {os.cpu_count()} logical CPUs, load {load:.1f}; OpenCV {cv2.__version__}, "
          "one thread")
    print(table(results))


if __name__ == "__main__":
    main()
