"""Plot columns of training ``log.txt`` files as curves over steps, with PIL only (no matplotlib).

    python scripts/plot_training_log.py runs/a/log.txt:baseline runs/b/log.txt:fixed \\
        --column kp_part_hits_min --steps-per-epoch 40 -o docs/img/part-hits.png

Each ``LOG[:LABEL]`` is one curve; ``--column`` names a log.txt column (``kp_part_hits_min``,
``kp_distance``, ``reconstruction_l1``, ...); the x axis is the epoch times ``--steps-per-epoch``
(one number for all, or one per log, comma-separated).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = ((214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189), (23, 190, 207))
WIDTH, HEIGHT, MARGIN = 640, 360, 56


def read_log(path: Path) -> list[tuple[int, dict[str, float]]]:
    """(epoch, {column: value}) per line of a log.txt."""
    rows = []
    for line in path.read_text().splitlines():
        epoch, _, rest = line.partition(") ")
        values = {}
        for item in rest.split("; "):
            name, _, value = item.partition(" - ")
            values[name] = float(value)
        rows.append((int(epoch), values))
    return rows


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo or 1.0
    step = 10 ** math.floor(math.log10(span / count))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def plot(curves: list[tuple[str, list[float], list[float]]], title: str, y_label: str,
         hline: float | None = None, legend: str = "lower right", xlabel: str = "steps") -> Image.Image:
    """A white picture with one polyline per (label, xs, ys) curve, axes, ticks and a legend."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    xs = [x for _, cx, _ in curves for x in cx]
    ys = [y for _, _, cy in curves for y in cy if math.isfinite(y)] + ([hline] if hline is not None else [])
    x0, x1 = 0.0, max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys) * 1.05
    left, right, top, bottom = MARGIN, WIDTH - 16, 28, HEIGHT - 40

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0 or 1) * (right - left), bottom - (y - y0) / (y1 - y0 or 1) * (bottom - top))

    draw.rectangle([left, top, right, bottom], outline="black")
    for t in _ticks(y0, y1):
        _, y = px(x0, t)
        draw.line([left - 4, y, left, y], fill="black")
        draw.line([left + 1, y, right - 1, y], fill=(230, 230, 230))
        draw.text((4, y - 6), f"{t:g}", fill="black")
    for t in _ticks(x0, x1):
        x, _ = px(t, y0)
        draw.line([x, bottom, x, bottom + 4], fill="black")
        draw.text((x - 12, bottom + 6), f"{t:g}", fill="black")
    draw.text(((left + right) // 2 - 3 * len(xlabel), HEIGHT - 16), xlabel, fill="black")
    draw.text((left, 8), title if title == y_label else f"{title}  ({y_label})", fill="black")
    if hline is not None:
        _, y = px(x0, hline)
        for x in range(left, right, 8):
            draw.line([x, y, min(x + 4, right), y], fill=(120, 120, 120))
    for i, (_, cx, cy) in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        points = [px(x, y) for x, y in zip(cx, cy, strict=True) if math.isfinite(y)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
    # the legend in a white box, in the corner chosen by --legend
    width = 34 + max(int(draw.textlength(label)) for label, _, _ in curves)
    height = 6 + 14 * len(curves)
    lx = right - width - 6 if "right" in legend else left + 6
    ly0 = bottom - height - 6 if "lower" in legend else top + 6
    draw.rectangle([lx, ly0, lx + width, ly0 + height], fill="white", outline=(160, 160, 160))
    for i, (label, _, _) in enumerate(curves):
        ly = ly0 + 4 + 14 * i
        draw.line([lx + 4, ly + 6, lx + 24, ly + 6], fill=COLORS[i % len(COLORS)], width=3)
        draw.text((lx + 29, ly), label, fill="black")
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", metavar="LOG[:LABEL]")
    parser.add_argument("--column", required=True)
    parser.add_argument("--steps-per-epoch", default="1", help="one number, or one per log (comma-separated)")
    parser.add_argument("--title", default=None)
    parser.add_argument("--xlabel", default="steps", help="the x axis' label (default: steps)")
    parser.add_argument("--hline", type=float, default=None, help="a dashed reference line (e.g. the target)")
    parser.add_argument("--legend", default="lower right",
                        choices=("lower right", "upper right", "lower left", "upper left"))
    parser.add_argument("-o", "--out", required=True, type=Path)
    args = parser.parse_args()
    per_epoch = [float(v) for v in args.steps_per_epoch.split(",")]
    if len(per_epoch) == 1:
        per_epoch *= len(args.logs)
    curves = []
    for spec, steps in zip(args.logs, per_epoch, strict=True):
        path, _, label = spec.partition(":")
        rows = [(e, v) for e, v in read_log(Path(path)) if args.column in v]
        curves.append((label or path, [(e + 1) * steps for e, _ in rows], [v[args.column] for _, v in rows]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(curves, args.title or args.column, args.column, args.hline, args.legend, args.xlabel).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
