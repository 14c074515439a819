"""Benchmark: peak memory of ``--paste-back`` into large photos, and of the app server on the largest
upload it admits. The limits of :mod:`fomm.limits` promise memory bounded by the output size, flat in
the number of frames; this measures it.

    python benchmarks/memory.py                        # 1, 16, 64 MP photos x 12, 120 frames; the app
    python benchmarks/memory.py --mp 1 16 --frames 12  # a quicker run
    python benchmarks/memory.py --no-app               # paste-back only

Paste-back: each run is a fresh ``fomm animate PHOTO DRIVING --crop X,Y,W,H --driving-crop none
--paste-back -o out.mp4`` process with the bundled model (64 px networks, so the photo's size is what
costs), a square photo of the given megapixels (a smooth gradient: a small PNG that decodes to its full
size) and a 64x64 driving clip of the given frames. Peak RSS is the child's ``ru_maxrss``; its RSS is also
sampled every 50 ms with the frames done (from its progress bar), and the table shows the running peak
by frame 3, 6, 12, 24, 60 ("by N"): flat from one column to the next is memory that has levelled off,
steady growth would be a leak (``--trace`` prints it for every frame).

App: ``fomm app`` is started, the largest image the pixel limit admits (10000x10000, 100 MP, a 2 MB
PNG) is uploaded with gradio_client as the source of one job, and the server's peak RSS is read from
``/proc/PID/status`` (VmHWM) before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.crop import cpu_description  # noqa: E402


def gradient_photo(path: Path, megapixels: float) -> Path:
    """A square RGB photo of ``megapixels`` (a gradient, so the PNG stays small)."""
    from PIL import Image

    side = int(round((megapixels * 1e6) ** 0.5))
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    rgb = np.empty((side, side, 3), np.uint8)
    rgb[..., 0] = ramp[None, :]
    rgb[..., 1] = ramp[:, None]
    rgb[..., 2] = 128
    Image.fromarray(rgb).save(path, compress_level=1)
    return path


def driving_clip(path: Path, frames: int) -> Path:
    from tests.media import make_video

    return make_video(path, n=min(frames, 30), size=(64, 64)) if frames <= 30 else _long_clip(path, frames)


def _long_clip(path: Path, frames: int) -> Path:
    from fomm.io import VideoWriter

    rng = np.random.default_rng(0)
    with VideoWriter(path, fps=25) as writer:
        for _ in range(frames):
            writer.write(np.kron(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8)))
    return path


def _fomm(*argv) -> list[str]:
    return [sys.executable, "-m", "fomm", *map(str, argv)]


FRAMES_DONE = re.compile(rb"(\d+)/(\d+) \[")  # tqdm's "37/120 [" in the child's progress bar


def paste_back_peak(folder: Path, megapixels: float, frames: int) -> tuple[float, float, dict[int, float]]:
    """(peak RSS in MB, seconds, {frames done: the largest RSS sampled while that many were done}) of one
    paste-back run. The child's RSS is read from /proc every 50 ms and paired with the frame count of
    its progress bar, which shows whether memory levels off (bounded) or keeps growing (a leak)."""
    photo = folder / f"photo-{megapixels:g}mp.png"
    if not photo.exists():
        gradient_photo(photo, megapixels)
    driving = folder / f"driving-{frames}.mp4"
    if not driving.exists():
        driving_clip(driving, frames)
    side = int(round((megapixels * 1e6) ** 0.5))
    box = f"{side // 4},{side // 4},{side // 2},{side // 2}"
    out = folder / "out.mp4"
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    child = subprocess.Popen(_fomm("animate", photo, driving, "-o", out, "--crop", box, "--driving-crop", "none",
                                   "--paste-back"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    log, done = bytearray(), [0]

    def follow() -> None:  # the progress bar, as it is redrawn
        for chunk in iter(lambda: child.stderr.read1(4096), b""):
            log.extend(chunk)
            counts = FRAMES_DONE.findall(chunk)
            if counts:
                done[0] = int(counts[-1][0])

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    trace: dict[int, float] = {}
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)  # this child's own peak, not the largest child's
        if pid:
            break
        rss = _proc_mb(child.pid, "VmRSS")
        if rss is not None:
            trace[done[0]] = max(trace.get(done[0], 0.0), rss)
        time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    peak = usage.ru_maxrss / 1024
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"paste-back {megapixels} MP x {frames} failed:\n{log.decode(errors='replace')[-2000:]}")
    return peak, seconds, trace


def _proc_mb(pid: int, key: str) -> float | None:
    """``key`` (VmRSS, VmHWM) of process ``pid`` in MB, from /proc; None once it has exited."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return None


def app_peak(folder: Path, port: int = 7877) -> tuple[float, float, str]:
    """(server peak RSS before the upload, after it, what the job answered) for the largest admitted photo."""
    from gradio_client import Client, handle_file

    from fomm.app import DEFAULT_LABEL
    from fomm.limits import IMAGE_PIXELS

    side = int(IMAGE_PIXELS.value ** 0.5)
    photo = gradient_photo(folder / "largest.png", side * side / 1e6)
    driving = driving_clip(folder / "driving-12.mp4", 12) if not (folder / "driving-12.mp4").exists() \
        else folder / "driving-12.mp4"
    server = subprocess.Popen(_fomm("app", "--port", port, "--max-upload-mb", 400), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        log = []
        while not any("serving on" in line for line in log):  # after any note (stale folders removed)
            line = server.stdout.readline()
            if not line:
                raise SystemExit(f"the app did not start: {''.join(log)[-2000:]}")
            log.append(line)
        idle = _proc_mb(server.pid, "VmHWM")
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        try:
            result = client.predict(handle_file(str(photo)), handle_file(str(driving)), DEFAULT_LABEL,
                                    "relative", False, False, "none", False, "face", api_name="/animate")
            answer = f"animated ({result[2]})"
        except Exception as exc:  # the app's one-line refusal comes back as an error
            answer = f"refused: {str(exc).splitlines()[0][:120]}"
        return idle, _proc_mb(server.pid, "VmHWM"), answer
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


MARKS = (3, 6, 12, 24, 60)  # frames done at which the running peak is shown


def _running_max(trace: dict[int, float], frames: int) -> float | None:
    """The largest RSS sampled while at most ``frames`` frames were done."""
    seen = [rss for done, rss in trace.items() if done <= frames]
    return max(seen) if seen else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mp", type=float, nargs="+", default=[1, 16, 64], help="photo sizes in megapixels")
    parser.add_argument("--frames", type=int, nargs="+", default=[12, 120], help="driving clip lengths")
    parser.add_argument("--trace", action="store_true", help="also print each run's RSS by frames done")
    parser.add_argument("--no-app", action="store_true", help="skip the app server measurement")
    args = parser.parse_args()
    from fomm.limits import IMAGE_PIXELS, QUEUE_BYTES

    rows = []
    with tempfile.TemporaryDirectory(prefix="fomm-memory-") as tmp:
        folder = Path(tmp)
        for megapixels in args.mp:
            for frames in args.frames:
                peak, seconds, trace = paste_back_peak(folder, megapixels, frames)
                rows.append((megapixels, frames, peak, seconds, trace))
                print(f"{megapixels:g} MP x {frames}: {peak:.0f} MB, {seconds:.1f} s", file=sys.stderr)
                if args.trace:
                    print("  RSS (MB) by frames done: " + ", ".join(f"{k}: {v:.0f}" for k, v in sorted(trace.items())),
                          file=sys.stderr)
        app = None if args.no_app else app_peak(folder)
    print(f"\nCPU: {cpu_description()}; {os.cpu_count()} logical CPUs")
    print(f"limits: {IMAGE_PIXELS.value:,} pixels per image, encoder queue {QUEUE_BYTES.value >> 20} MiB\n")
    marks = sorted({m for m in MARKS if m < max(args.frames)} | set(args.frames))
    print(f"{'photo':>8} | {'frames':>6} | {'frame (MB)':>10} | {'peak RSS (MB)':>13} | {'peak / frame':>12} | "
          + " | ".join(f"by {m:>3}" for m in marks) + f" | {'time':>7}")
    print("-" * (70 + 9 * len(marks)))
    for megapixels, frames, peak, seconds, trace in rows:
        frame_mb = megapixels * 3
        levels = [_running_max(trace, m) if m <= frames else None for m in marks]
        print(f"{megapixels:>5g} MP | {frames:>6} | {frame_mb:>10.0f} | {peak:>13.0f} | {peak / frame_mb:>11.1f}x | "
              + " | ".join(f"{v:>6.0f}" if v else f"{'':>6}" for v in levels) + f" | {seconds:>6.1f}s")
    print("(by N: the largest RSS sampled every 50 ms until N frames were done; flat from one column to the next "
          "is memory that has levelled off)")
    if app is not None:
        idle, after, answer = app
        print(f"\napp server, one job on the largest admitted source ({IMAGE_PIXELS.value / 1e6:g} MP): peak RSS "
              f"{idle:.0f} MB idle, {after:.0f} MB after the upload; the job: {answer}")


if __name__ == "__main__":
    main()
