"""Benchmark: jitter and lag of face boxes and landmarks with and without temporal smoothing.

    python benchmarks/smoothing.py                       # a clip made here (below), 120 frames
    python benchmarks/smoothing.py --video talking.mp4   # any real clip with one face

The clip made here: scikit-image's astronaut photo moving as a head does in an interview (a slow
sway of about a third of the face's size, two periods mixed), 320x240, face about 60 px. Every frame
goes through the face detector (the CNN where installed), and detector noise is added on top of
its own (Gaussian, 2% of the face's size, on the box centre and on each landmark, seeded). Jitter:
the median second difference of the box centres (and of the five landmarks) over the box size; a
steady motion has none. Lag: frames from a step of a quarter of the face's size (added to the
trajectory, 20 trials) until the smoothed centre is half-way. ``zero-phase`` is what files get
(``--smooth auto`` for ``fomm animate``/``fomm crop``), ``One Euro`` what ``fomm live`` gets.

The second table is what ``--smooth`` does to the motion the model sees: the keypoints and jacobians
of a model (``--checkpoint``, default: the bundled one) on the clip's tracked crops, as ``fomm animate
--crop auto`` computes them (no noise added: the network's own frame-to-frame noise). Keypoint jitter is
over the crop's size (2 in normalized coordinates), jacobian jitter the norm of the second difference;
lag on a step of 0.05 of the crop. Time: the smoothing's CPU time per frame against the keypoint
network's on the same frames, in the same run (a ratio, so a busy machine does not change it much).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.crop import cpu_description  # noqa: E402
from fomm.crop import available_backends, detect_faces  # noqa: E402
from fomm.crop.smooth import AUTO_STRENGTH, MotionFilter, causal, jitter, smooth_motion, step_lag, zero_phase  # noqa: E402


def made_clip(frames: int = 120) -> list[np.ndarray]:
    from tests.crop.scenes import astronaut, place

    photo = astronaut(160)
    t = np.arange(frames)
    xs = 80 + 14 * np.sin(2 * np.pi * t / 70) + 6 * np.sin(2 * np.pi * t / 23)
    ys = 40 + 5 * np.sin(2 * np.pi * t / 45)
    return [place((240, 320), 160, round(x), round(y), photo)[0] for x, y in zip(xs, ys, strict=True)]


def read_clip(path: str, limit: int) -> list[np.ndarray]:
    from fomm.io import VideoReader

    with VideoReader(path) as reader:
        return [frame for _, frame in zip(range(limit), reader, strict=False)]


def track(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the largest face's centre (T, 2), size (T,) and landmarks (T, 5, 2) (NaN-free: a missed
    frame repeats the previous one)."""
    centers, sizes, points = [], [], []
    for frame in frames:
        boxes = detect_faces(frame)
        if not boxes and centers:
            centers.append(centers[-1])
            sizes.append(sizes[-1])
            points.append(points[-1])
            continue
        if not boxes:
            raise SystemExit("no face in the clip's first frame")
        box = boxes[0]
        centers.append(box.center)
        sizes.append(max(box.w, box.h))
        landmarks = box.landmarks or (box.center * 5)
        points.append(np.reshape(landmarks, (5, 2)))
    return np.array(centers), np.array(sizes), np.array(points)


def model_motion(frames: list[np.ndarray], checkpoint: str) -> tuple:
    """The model's motion (a Keypoints batch, one per frame) on the tracked crops of the longest crop
    segment of ``frames`` (smoothing never crosses a cut), the CPU seconds its network took, and the
    number of segments."""
    import torch

    from fomm.animation import Animator
    from fomm.api import load_model
    from fomm.crop import CropOptions, crop_square
    from fomm.crop.animate import driving_crops

    model = load_model(checkpoint, device=torch.device("cpu"))
    size = model.config.frame_size
    crops = driving_crops(frames, CropOptions(size=size, smooth=0.0))
    first, end, _ = max(crops.groups, key=lambda group: min(group[1], len(frames)) - group[0])
    cut = [crop_square(frames[i], crops.box(i), size) for i in range(first, min(end, len(frames)))]
    animator = Animator(model, cut[0], size=size, batch_size=8)
    start, motions = time.process_time(), []
    for batch in animator.frame_batches(cut):
        motions.append(animator.driving_motion(batch))
    seconds = time.process_time() - start
    return type(motions[0]).cat(motions), seconds, len(crops.groups)


def live_filtered(motion):
    """``motion`` run frame by frame through fomm live's filter."""
    steady = MotionFilter(AUTO_STRENGTH)
    return type(motion).cat([steady(motion[t : t + 1]) for t in range(len(motion.value))])


def motion_table(motion, network_seconds: float) -> list[str]:
    """Rows: keypoint and jacobian jitter, lag on a step, smoothing time over the network's, per smoother."""
    frames = len(motion.value)
    smoothers = {"none": lambda m: m,
                 f"zero-phase ({AUTO_STRENGTH:g} frames)": lambda m: smooth_motion(m, AUTO_STRENGTH),
                 f"One Euro ({AUTO_STRENGTH:g} frames)": live_filtered}
    rows, base = [], None
    for name, smooth in smoothers.items():
        start = time.process_time()
        smoothed = smooth(motion)
        cost = time.process_time() - start
        kp = smoothed.value.float().numpy()
        kp_jitter = jitter(kp, 2.0)
        jac = smoothed.jacobian
        jac_jitter = jitter(jac.float().numpy().reshape(frames, -1, 4), 1.0) if jac is not None else float("nan")
        lags = []
        for trial in range(20):
            begin = 20 + trial
            stepped = motion.value.clone()
            stepped[begin:, :, 0] += 0.1  # 0.05 of the crop's size of 2
            moved = smooth(type(motion)(stepped, motion.jacobian)).value[:, :, 0].float().numpy()
            still = smooth(motion).value[:, :, 0].float().numpy()
            lags.append(step_lag((moved - still).mean(axis=1), begin, 0.0, 0.1))
        base = base or (kp_jitter, jac_jitter)
        rows.append(f"| {name} | {kp_jitter:.4f} ({kp_jitter / base[0]:.2f}x) | {jac_jitter:.4f} "
                    f"({jac_jitter / base[1]:.2f}x) | {np.median(lags):.0f} / {max(lags)} | "
                    f"{cost / network_seconds:.4f}x |")
    return rows


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", help="a real clip with one face (default: the clip made here)")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--noise", type=float, default=0.02, help="added detector noise, a fraction of the face")
    parser.add_argument("--checkpoint", default="default", help="the model whose keypoints are smoothed")
    args = parser.parse_args()
    frames = read_clip(args.video, args.frames) if args.video else made_clip(args.frames)
    centers, sizes, points = track(frames)
    rng = np.random.default_rng(0)
    size = float(np.median(sizes))
    centers = centers + rng.normal(0, args.noise * size, centers.shape)
    points = points + rng.normal(0, args.noise * size, points.shape)
    smoothers = {
        "none": lambda v: v,
        f"zero-phase ({AUTO_STRENGTH:g} frames)": lambda v: zero_phase(v, AUTO_STRENGTH),
        f"One Euro ({AUTO_STRENGTH:g} frames)": lambda v: causal(v, AUTO_STRENGTH, scale=size),
    }
    print(f"CPU: {cpu_description()}; detector {available_backends()[0]}; "
          f"{args.video or 'clip made here'}, {len(frames)} frames, face {size:.0f} px, noise {args.noise:g}")
    print("| smoothing | box jitter | landmark jitter | lag on a step (frames, median / max) |")
    print("| --- | --- | --- | --- |")
    base = None
    for name, smooth in smoothers.items():
        box_jitter = jitter(smooth(centers), size)
        landmark_jitter = jitter(smooth(points.reshape(len(points), -1)).reshape(points.shape), size)
        lags = []
        for trial in range(20):
            start = 20 + trial
            step = centers[:, 0].copy()
            step[start:] += 0.25 * size
            smoothed = smooth(step[:, None])[:, 0] - (smooth(centers[:, :1])[:, 0])
            lags.append(step_lag(smoothed, start, 0.0, 0.25 * size))
        base = base or (box_jitter, landmark_jitter)
        print(f"| {name} | {box_jitter:.4f} ({box_jitter / base[0]:.2f}x) | {landmark_jitter:.4f} "
              f"({landmark_jitter / base[1]:.2f}x) | {np.median(lags):.0f} / {max(lags)} |")


    motion, network_seconds, segments = model_motion(frames, args.checkpoint)
    count = len(motion.value)
    print()
    print(f"the {args.checkpoint} model's motion on the tracked crops ({segments} segment(s); {count} frames of the "
          f"longest), the keypoint network {1000 * network_seconds / count:.1f} ms CPU a frame; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    print("| smoothing | keypoint jitter | jacobian jitter | lag on a step (frames, median / max) | "
          "CPU time / the network's |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(motion_table(motion, network_seconds)))


if __name__ == "__main__":
    main()
