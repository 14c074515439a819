"""Synthetic videos of articulated, colored figures, with ground-truth part tracks.

Why: to train and evaluate FOMM end to end on a CPU in minutes we need videos whose motion dominates
the picture and is easy to learn, and a check of motion transfer that does not rely on the learned
keypoints. Each video shows one figure -- a torso ellipse plus limbs that swing about joints on it --
over a static, low-contrast background; the whole figure translates, rotates and scales smoothly, with
no camera motion and no lighting change. Every part has its own saturated palette color (and a darker
shade of it for a small texture mark that makes rotation visible), so a part can be found in any frame,
real or generated, by color alone (`fomm.evaluation.parts.measure_part_positions`). That gives the
paper's AKD / MKR (Sec. 4.1, which uses a pretrained keypoint detector) without any learned model
(`fomm.evaluation.parts.part_position_error`).

Coordinates are in output pixels, (x, y) = (column, row), with pixel centres at integers.
"""

from __future__ import annotations

import colorsys
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..errors import FommError
from ..io.outputs import check_folder_output, partial_path, publish_folder, remove_path

logger = logging.getLogger(__name__)

# Six hues 60 degrees apart at high saturation. With `SHADE_FACTOR` the color segments
# [shade, color] of any two parts are >= 80 apart in RGB and >= 75 from any background color
# (saturation <= 0.2, value >= 0.5), so `fomm.evaluation.parts.COLOR_TOLERANCE` = 40 never confuses them.
PALETTE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (230, 35, 35)),
    ("green", (35, 190, 45)),
    ("blue", (45, 65, 230)),
    ("yellow", (235, 210, 25)),
    ("magenta", (210, 45, 210)),
    ("cyan", (25, 200, 215)),
)
SHADE_FACTOR = 0.6

TRACKS_FORMAT = "fomm-synthetic-tracks"
TRACKS_VERSION = 1

# Limb rest directions in the torso frame (degrees), used in this order: an "X" of arms and legs.
_LIMB_DIRECTIONS = (45.0, 135.0, 225.0, 315.0, 0.0)
_ELLIPSE_VERTICES = 64
# A part counts as visible when at least this share of its full area shows, and at least this many pixels.
_MIN_VISIBLE_FRACTION = 0.4
_MIN_VISIBLE_PIXELS = 4.0


class SyntheticDataError(FommError, ValueError):
    """Settings for synthetic data out of range, or a tracks file that is not one; the message says which."""


@dataclass(frozen=True)
class SyntheticConfig:
    """What one synthetic video looks like. Amplitudes are fractions of the frame size."""

    size: int = 64
    num_frames: int = 32
    num_parts: int = 5  # one torso + (num_parts - 1) limbs
    fps: float = 25.0
    supersample: int = 4  # render at size * supersample, box-downsample: anti-aliasing
    texture: bool = True  # a darker mark inside each part, so that rotation is visible
    motion_scale: float = 1.0  # multiplies every motion amplitude (0: a still figure)
    # multiplies the limbs' swing about their joints on top of motion_scale: articulation relative to the
    # body (1: swings of 20-40 degrees; 2: 40-80). The random draws do not depend on it.
    limb_swing: float = 1.0

    def __post_init__(self) -> None:
        if self.size < 16:
            raise SyntheticDataError(f"size must be >= 16 pixels, got {self.size}")
        if self.num_frames < 1:
            raise SyntheticDataError(f"num_frames must be >= 1, got {self.num_frames}")
        if not 1 <= self.num_parts <= len(PALETTE):
            raise SyntheticDataError(f"num_parts must be in 1..{len(PALETTE)} (one palette color each), got "
                                     f"{self.num_parts}")
        if self.supersample < 1:
            raise SyntheticDataError(f"supersample must be >= 1, got {self.supersample}")
        if self.fps <= 0:
            raise SyntheticDataError(f"fps must be > 0, got {self.fps}")
        if self.motion_scale < 0:
            raise SyntheticDataError(f"motion_scale must be >= 0, got {self.motion_scale}")
        if self.limb_swing < 0:
            raise SyntheticDataError(f"limb_swing must be >= 0, got {self.limb_swing}")


@dataclass(frozen=True)
class Tracks:
    """Ground-truth part positions of one video."""

    positions: np.ndarray  # (F, P, 2) float32 (x, y): centroid of the part's visible pixels
    visible: np.ndarray  # (F, P) bool
    part_colors: np.ndarray  # (P, 3) uint8
    part_names: tuple[str, ...]
    size: int
    fps: float

    @property
    def num_frames(self) -> int:
        return self.positions.shape[0]


@dataclass(frozen=True)
class SyntheticVideo:
    frames: np.ndarray  # (F, S, S, 3) uint8
    tracks: Tracks


@dataclass(frozen=True)
class SyntheticDatasetSummary:
    root: Path
    train_dir: Path
    test_dir: Path
    train_videos: tuple[str, ...]
    test_videos: tuple[str, ...]
    num_frames: int
    size: int


def part_shades(part_colors: np.ndarray) -> np.ndarray:
    """The darker shade of each part color used for its texture mark: (P, 3) uint8."""
    return np.round(np.asarray(part_colors, dtype=np.float64) * SHADE_FACTOR).astype(np.uint8)


# ----------------------------------------------------------------------------- the figure and its motion


@dataclass(frozen=True)
class _Sinusoid:
    """amplitude * sin(2 pi t / period + phase), t in frames: smooth motion whose speed does not depend
    on the video's length."""

    amplitude: float
    period: float
    phase: float

    def __call__(self, t: float) -> float:
        return self.amplitude * math.sin(2.0 * math.pi * t / self.period + self.phase)


def _sinusoid(rng: np.random.Generator, amplitude: float, period: tuple[float, float]) -> _Sinusoid:
    return _Sinusoid(amplitude, float(rng.uniform(*period)), float(rng.uniform(0.0, 2.0 * math.pi)))


@dataclass(frozen=True)
class _Limb:
    attach: tuple[float, float]  # joint in the torso frame (pixels at scale 1)
    rest_angle: float  # radians, in the torso frame
    length: float
    half_width: float
    swing: _Sinusoid  # radians


@dataclass(frozen=True)
class _Figure:
    colors: np.ndarray  # (P, 3) uint8; part 0 is the torso
    names: tuple[str, ...]
    background: np.ndarray  # (S, S, 3) float32 in [0, 255]
    center: tuple[float, float]
    shift: tuple[tuple[_Sinusoid, ...], tuple[_Sinusoid, ...]]  # x and y: sums of sinusoids
    angle0: float
    rotation: _Sinusoid
    scale: _Sinusoid
    torso_axes: tuple[float, float]  # semi-axes (major along the torso's x)
    limbs: tuple[_Limb, ...]


@dataclass(frozen=True)
class _Ellipse:
    cx: float
    cy: float
    a: float  # semi-axis along `angle`
    b: float
    angle: float

    def polygon(self, scale: float, offset: float) -> list[tuple[float, float]]:
        """Vertices in another pixel grid: x' = x * scale + offset."""
        u = np.linspace(0.0, 2.0 * math.pi, _ELLIPSE_VERTICES, endpoint=False)
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        ex, ey = self.a * np.cos(u), self.b * np.sin(u)
        xs = (self.cx + ca * ex - sa * ey) * scale + offset
        ys = (self.cy + sa * ex + ca * ey) * scale + offset
        return list(zip(xs.tolist(), ys.tolist(), strict=True))

    def inner(self, u: float, a: float, b: float) -> _Ellipse:
        """An ellipse of semi-axes (a, b) centred at `u` along this one's major axis (same angle)."""
        return _Ellipse(self.cx + u * math.cos(self.angle), self.cy + u * math.sin(self.angle), a, b, self.angle)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth gradient between two dull colors plus faint low-frequency ripples: (S, S, 3) float32."""
    hue = rng.uniform()
    ends = [
        colorsys.hsv_to_rgb((hue + rng.uniform(-0.1, 0.1)) % 1.0, rng.uniform(0.0, 0.18), rng.uniform(0.55, 0.85))
        for _ in range(2)
    ]
    c0, c1 = (np.array(c, dtype=np.float32) * 255.0 for c in ends)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    direction = rng.uniform(0.0, 2.0 * math.pi)
    ramp = np.clip(xs * math.cos(direction) + ys * math.sin(direction) + 0.5, 0.0, 1.0)
    image = c0 + (c1 - c0) * ramp[..., None]
    for _ in range(3):  # ripples of 1-3 cycles per frame, 2/255 each: visible, never mistaken for a part
        fx, fy = rng.uniform(-3.0, 3.0, size=2)
        image += 2.0 * np.sin(2.0 * math.pi * (fx * xs + fy * ys) + rng.uniform(0.0, 2.0 * math.pi))[..., None]
    return image.astype(np.float32)


def _joint(torso_axes: tuple[float, float], phi: float) -> tuple[tuple[float, float], float]:
    """A limb's joint and rest angle on a torso of semi-axes ``torso_axes``, at direction ``phi``: the
    joint sits just inside the torso's edge, so the limb grows out of it; at rest the limb points along
    the edge's outward normal."""
    a, b = torso_axes
    return (0.85 * a * math.cos(phi), 0.85 * b * math.sin(phi)), math.atan2(a * math.sin(phi), b * math.cos(phi))


def _sample_figure(rng: np.random.Generator, config: SyntheticConfig) -> _Figure:
    s, m = float(config.size), config.motion_scale
    order = rng.permutation(len(PALETTE))[: config.num_parts]
    colors = np.array([PALETTE[i][1] for i in order], dtype=np.uint8)
    names = ("torso",) + tuple(f"limb{i}" for i in range(1, config.num_parts))
    background = _background(rng, config.size)

    a, b = rng.uniform(0.15, 0.18) * s, rng.uniform(0.10, 0.125) * s
    limbs = []
    for i in range(config.num_parts - 1):
        phi = math.radians(_LIMB_DIRECTIONS[i] + rng.uniform(-15.0, 15.0))
        attach, rest_angle = _joint((a, b), phi)
        limbs.append(
            _Limb(
                attach=attach,
                rest_angle=rest_angle,
                length=rng.uniform(0.2, 0.25) * s,
                half_width=rng.uniform(0.045, 0.06) * s,
                swing=_sinusoid(rng, m * config.limb_swing * math.radians(rng.uniform(20.0, 40.0)), (12.0, 32.0)),
            )
        )

    def shift() -> tuple[_Sinusoid, ...]:
        main = rng.uniform(0.1, 0.15) * s * m
        return (_sinusoid(rng, main, (24.0, 48.0)), _sinusoid(rng, rng.uniform(0.0, 0.25) * main, (10.0, 20.0)))

    return _Figure(
        colors=colors,
        names=names,
        background=background,
        center=tuple(s / 2.0 - 0.5 + rng.uniform(-0.04, 0.04, size=2) * s),
        shift=(shift(), shift()),
        angle0=float(rng.uniform(0.0, 2.0 * math.pi)),
        rotation=_sinusoid(rng, m * math.radians(rng.uniform(10.0, 30.0)), (32.0, 64.0)),
        scale=_sinusoid(rng, m * rng.uniform(0.04, 0.1), (24.0, 64.0)),
        torso_axes=(a, b),
        limbs=tuple(limbs),
    )


def _pose(figure: _Figure, t: float) -> list[_Ellipse]:
    """Part shapes at frame t, in part order (torso first)."""
    cx = figure.center[0] + sum(f(t) for f in figure.shift[0])
    cy = figure.center[1] + sum(f(t) for f in figure.shift[1])
    angle = figure.angle0 + figure.rotation(t)
    scale = 1.0 + figure.scale(t)
    ca, sa = math.cos(angle), math.sin(angle)
    a, b = figure.torso_axes
    parts = [_Ellipse(cx, cy, a * scale, b * scale, angle)]
    for limb in figure.limbs:
        jx, jy = limb.attach
        jx, jy = cx + scale * (ca * jx - sa * jy), cy + scale * (sa * jx + ca * jy)
        direction = angle + limb.rest_angle + limb.swing(t)
        half = 0.5 * limb.length * scale
        parts.append(
            _Ellipse(
                jx + half * math.cos(direction),
                jy + half * math.sin(direction),
                half,
                limb.half_width * scale,
                direction,
            )
        )
    return parts


def _texture(part: _Ellipse, is_torso: bool) -> _Ellipse:
    """The shade mark, strictly inside the part and off its centre so that rotation shows:
    an "eye" on the torso, a "hand" band near each limb's tip."""
    if is_torso:
        return part.inner(0.5 * part.a, 0.3 * part.b, 0.3 * part.b)
    return part.inner(0.55 * part.a, 0.25 * part.a, 0.6 * part.b)


def _render(figure: _Figure, config: SyntheticConfig) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (frame (S, S, 3) uint8, positions (P, 2) float32, visible (P,) bool) for every frame.

    Parts are drawn at `supersample` times the size on black with a label map beside them (limbs first,
    torso on top), box-downsampled (premultiplied by coverage) and composited over the background. The
    label map gives each part's visible area and centroid, measured on what was actually drawn.
    """
    size, ss = config.size, config.supersample
    hi = size * ss
    shades = part_shades(figure.colors)
    num_parts = len(figure.colors)
    # hi-res pixel J covers output coordinates around (J + 0.5) / ss - 0.5: box means land on pixel centres
    coord = (np.arange(hi, dtype=np.float64) + 0.5) / ss - 0.5
    xs = np.broadcast_to(coord[None, :], (hi, hi)).ravel()
    ys = np.broadcast_to(coord[:, None], (hi, hi)).ravel()
    draw_order = list(range(1, num_parts)) + [0]
    for t in range(config.num_frames):
        parts = _pose(figure, float(t))
        color_layer = Image.new("RGB", (hi, hi), 0)
        label_layer = Image.new("L", (hi, hi), 0)
        draw_color, draw_label = ImageDraw.Draw(color_layer), ImageDraw.Draw(label_layer)
        for k in draw_order:
            outline = parts[k].polygon(ss, 0.5 * (ss - 1))
            draw_color.polygon(outline, fill=tuple(int(c) for c in figure.colors[k]))
            draw_label.polygon(outline, fill=k + 1)
            if config.texture:
                mark = _texture(parts[k], is_torso=k == 0).polygon(ss, 0.5 * (ss - 1))
                draw_color.polygon(mark, fill=tuple(int(c) for c in shades[k]))

        labels = np.asarray(label_layer).ravel()
        # Pillow's reduce is a box filter, and much faster than a strided numpy mean
        colored = np.asarray(color_layer.reduce(ss), dtype=np.float32)  # (S, S, 3)
        coverage = np.asarray(label_layer.point(lambda v: 255 if v else 0).reduce(ss), dtype=np.float32) / 255.0
        frame = colored + (1.0 - coverage[..., None]) * figure.background  # (S, S, 3)
        frame = np.clip(np.round(frame), 0, 255).astype(np.uint8)

        counts = np.bincount(labels, minlength=num_parts + 1)[1:].astype(np.float64)
        sum_x = np.bincount(labels, weights=xs, minlength=num_parts + 1)[1:]
        sum_y = np.bincount(labels, weights=ys, minlength=num_parts + 1)[1:]
        area = counts / ss**2  # visible area, output pixels
        full_area = np.array([math.pi * p.a * p.b for p in parts])
        visible = (area >= _MIN_VISIBLE_FRACTION * full_area) & (area >= _MIN_VISIBLE_PIXELS)
        # centroid of what shows; the shape's centre when nothing does
        centres = np.array([(p.cx, p.cy) for p in parts])
        seen = counts > 0
        positions = centres.copy()
        positions[seen, 0] = sum_x[seen] / counts[seen]
        positions[seen, 1] = sum_y[seen] / counts[seen]
        yield frame, positions.astype(np.float32), visible


def _video_stream(
    seed: int | Sequence[int], config: SyntheticConfig
) -> tuple[_Figure, Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    figure = _sample_figure(np.random.default_rng(seed), config)
    return figure, _render(figure, config)


def generate_video(seed: int | Sequence[int] = 0, config: SyntheticConfig | None = None) -> SyntheticVideo:
    """One synthetic video and its part tracks. The same seed and config give byte-identical frames."""
    config = config or SyntheticConfig()
    return _video(_sample_figure(np.random.default_rng(seed), config), config)


def shape_in_motion_video(shape_seed: int | Sequence[int], motion_seed: int | Sequence[int],
                          config: SyntheticConfig | None = None) -> SyntheticVideo:
    """The figure of ``shape_seed``'s video (its colors, background, torso and limb sizes) moving as the
    figure of ``motion_seed``'s does (its place, turns, scaling, limb directions and swings): what
    animating a frame of the first video by the second should give when the body shapes differ, the
    ground truth of animation via disentanglement (``--mode avd``)."""
    config = config or SyntheticConfig()
    shape = _sample_figure(np.random.default_rng(shape_seed), config)
    motion = _sample_figure(np.random.default_rng(motion_seed), config)
    (ma, mb), limbs = motion.torso_axes, []
    for own, moving in zip(shape.limbs, motion.limbs, strict=True):
        phi = math.atan2(moving.attach[1] / (0.85 * mb), moving.attach[0] / (0.85 * ma))  # motion's direction
        attach, rest_angle = _joint(shape.torso_axes, phi)
        limbs.append(replace(moving, attach=attach, rest_angle=rest_angle, length=own.length,
                                         half_width=own.half_width))
    figure = replace(motion, colors=shape.colors, names=shape.names, background=shape.background,
                                 torso_axes=shape.torso_axes, limbs=tuple(limbs))
    return _video(figure, config)


def _video(figure: _Figure, config: SyntheticConfig) -> SyntheticVideo:
    frames, positions, visible = zip(*_render(figure, config), strict=True)
    tracks = Tracks(
        positions=np.stack(positions),
        visible=np.stack(visible),
        part_colors=figure.colors.copy(),
        part_names=figure.names,
        size=config.size,
        fps=config.fps,
    )
    return SyntheticVideo(frames=np.stack(frames), tracks=tracks)


# ----------------------------------------------------------------------------- tracks files


def save_tracks(tracks: Tracks, path: str | os.PathLike[str], **extra: object) -> None:
    """Write `tracks` as JSON; `extra` keys (e.g. the seed) are stored alongside."""
    shades = part_shades(tracks.part_colors)
    doc = {
        "format": TRACKS_FORMAT,
        "version": TRACKS_VERSION,
        "size": tracks.size,
        "fps": tracks.fps,
        "num_frames": tracks.num_frames,
        "parts": [
            {"name": name, "color": color.tolist(), "shade": shade.tolist()}
            for name, color, shade in zip(tracks.part_names, tracks.part_colors, shades, strict=True)
        ],
        "frames": [
            [
                {"x": round(float(x), 3), "y": round(float(y), 3), "visible": bool(v)}
                for (x, y), v in zip(frame_positions, frame_visible, strict=True)
            ]
            for frame_positions, frame_visible in zip(tracks.positions, tracks.visible, strict=True)
        ],
        **extra,
    }
    Path(path).write_text(_dumps_one_item_a_line(doc))


def _dumps_one_item_a_line(doc: dict[str, object]) -> str:
    """JSON with one line per top-level key and per item of a top-level list of lists or objects
    (parts, frames): readable, still small."""

    def value(v: object) -> str:
        if isinstance(v, list) and v and all(isinstance(item, (list, dict)) for item in v):
            return "[\n" + ",\n".join(f"  {json.dumps(item)}" for item in v) + "\n ]"
        return json.dumps(v)

    return "{\n" + ",\n".join(f" {json.dumps(k)}: {value(v)}" for k, v in doc.items()) + "\n}\n"


def load_tracks(path: str | os.PathLike[str]) -> Tracks:
    """Read a tracks JSON written by `save_tracks` / `make_synthetic_dataset`."""
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("format") != TRACKS_FORMAT:
        raise SyntheticDataError(f"{path} is not a synthetic tracks file (expected format {TRACKS_FORMAT!r})")
    if doc.get("version") != TRACKS_VERSION:
        raise SyntheticDataError(f"{path}: unsupported tracks version {doc.get('version')!r}, expected "
                                 f"{TRACKS_VERSION}")
    parts = doc["parts"]
    frames = doc["frames"]
    if any(len(frame) != len(parts) for frame in frames):
        raise SyntheticDataError(f"{path}: every frame must list all {len(parts)} parts")
    positions = np.array([[(p["x"], p["y"]) for p in frame] for frame in frames], dtype=np.float32)
    visible = np.array([[p["visible"] for p in frame] for frame in frames], dtype=bool)
    return Tracks(
        positions=positions.reshape(len(frames), len(parts), 2),
        visible=visible.reshape(len(frames), len(parts)),
        part_colors=np.array([p["color"] for p in parts], dtype=np.uint8).reshape(len(parts), 3),
        part_names=tuple(p["name"] for p in parts),
        size=int(doc["size"]),
        fps=float(doc["fps"]),
    )


# ----------------------------------------------------------------------------- dataset on disk


SYNTHETIC_ENTRIES = ("train", "test", "synthetic.json")  # what make_synthetic_dataset writes in out_dir


def check_dataset_out(out_dir: str | os.PathLike[str], overwrite: bool) -> Path:
    """Refuse an ``out_dir`` that must not be replaced (see :mod:`fomm.io.outputs`): one holding anything
    fomm did not write, or an earlier dataset without ``overwrite``. A dataset written before fomm
    marked its folders counts as fomm's when it holds nothing but what this module writes."""
    root = Path(out_dir)
    legacy = SYNTHETIC_ENTRIES if (root / "synthetic.json").is_file() else ()
    return check_folder_output(root, overwrite=overwrite, legacy=legacy)


def make_synthetic_dataset(
    out_dir: str | os.PathLike[str],
    num_videos: int,
    num_frames: int = 32,
    size: int = 64,
    seed: int = 0,
    test_fraction: float = 0.2,
    *,
    num_parts: int = 5,
    limb_swing: float = 1.0,
    overwrite: bool = False,
    on_video: Callable[[int], None] | None = None,
) -> SyntheticDatasetSummary:
    """Write `num_videos` synthetic videos in the training layout.

    out_dir/{train,test}/vidNNNNN/000000.png ... (one PNG per frame, for fast random access),
    out_dir/{train,test}/vidNNNNN.tracks.json (see `save_tracks`) and out_dir/synthetic.json (the
    generation settings). The last round(num_videos * test_fraction) videos form the test split. Video i
    uses seed (seed, i), so a dataset is reproducible and the same video comes out whatever num_videos.
    Everything is written into a temporary folder beside out_dir and renamed at the end. An existing
    out_dir is replaced only with `overwrite` and only if fomm made it (see `fomm.io.outputs`). `on_video(i)` is
    called after video i is written (e.g. to advance a progress bar).
    """
    config = SyntheticConfig(size=size, num_frames=num_frames, num_parts=num_parts, limb_swing=limb_swing)
    if num_videos < 1:
        raise SyntheticDataError(f"num_videos must be >= 1, got {num_videos}")
    if not 0.0 <= test_fraction <= 1.0:
        raise SyntheticDataError(f"test_fraction must be in [0, 1], got {test_fraction}")
    root = check_dataset_out(out_dir, overwrite)

    num_test = round(num_videos * test_fraction)
    names = [f"vid{i:05d}" for i in range(num_videos)]
    splits = ["train"] * (num_videos - num_test) + ["test"] * num_test
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(root)
    remove_path(tmp)  # left by a killed run
    tmp.mkdir()
    try:
        for split in ("train", "test"):
            (tmp / split).mkdir()
        settings = {"seed": seed, "num_videos": num_videos, "test_fraction": test_fraction, **asdict(config)}
        (tmp / "synthetic.json").write_text(json.dumps(settings, indent=1) + "\n")
        for i, (name, split) in enumerate(zip(names, splits, strict=True)):
            _write_video(tmp / split, name, [seed, i], config)
            if on_video is not None:
                on_video(i)
        publish_folder(tmp, root, "fomm synth")
    except BaseException:
        remove_path(tmp)
        raise
    logger.info("wrote %d synthetic videos (%d test) to %s", num_videos, num_test, root)
    return SyntheticDatasetSummary(
        root=root,
        train_dir=root / "train",
        test_dir=root / "test",
        train_videos=tuple(n for n, s in zip(names, splits, strict=True) if s == "train"),
        test_videos=tuple(n for n, s in zip(names, splits, strict=True) if s == "test"),
        num_frames=num_frames,
        size=size,
    )


def _write_video(split_dir: Path, name: str, seed: list[int], config: SyntheticConfig) -> None:
    """Write one video frame by frame (never holding it whole) and its tracks."""
    figure, stream = _video_stream(seed, config)
    video_dir = split_dir / name
    video_dir.mkdir()
    positions, visible = [], []
    for t, (frame, frame_positions, frame_visible) in enumerate(stream):
        Image.fromarray(frame).save(video_dir / f"{t:06d}.png", compress_level=1)
        positions.append(frame_positions)
        visible.append(frame_visible)
    tracks = Tracks(np.stack(positions), np.stack(visible), figure.colors, figure.names, config.size, config.fps)
    save_tracks(tracks, split_dir / f"{name}.tracks.json", seed=seed)
