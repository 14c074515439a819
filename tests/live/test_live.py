"""``fomm live`` with video files as the camera: latest frame wins under a slow model, commands
(recalibrate, next source, overlay, quit) change exactly the frames they should, and every ending
(end of input, q, an error) is clean."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fomm.animation import Animator
from fomm.api import load_model
from fomm.cli.demo import asset
from fomm.cli.main import main
from fomm.io import VideoReader, VideoWriter, read_image, read_video
from fomm.live import (
    Camera,
    CapturedFrame,
    FileOutput,
    LatestFrame,
    LiveAnimator,
    LiveSession,
    Output,
    VideoFileSource,
    overlay,
)
from tests.media import make_image


class Recorder(Output):
    """Keeps every result with the index of its camera frame."""

    def __init__(self):
        self.frames: list[tuple[int, np.ndarray]] = []
        self.closed = None

    def send(self, image, captured):
        self.frames.append((captured.index, image.copy()))
        return ()

    def close(self, completed):
        self.closed = completed


@pytest.fixture(scope="module")
def model():
    return load_model("default", device="cpu")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The first 12 frames of the bundled driving clip (real motion), at 20 fps."""
    path = tmp_path_factory.mktemp("clip") / "camera.mp4"
    with VideoWriter(path, fps=20) as writer:
        for frame in read_video(asset("driving.mp4"), max_frames=12):
            writer.write(frame)
    return path


SOURCE = asset("source.png")


def run_session(model, clip, sources=(SOURCE,), schedule=None, realtime=False, output=None, **options):
    live = LiveAnimator(model, list(sources), **options)
    output = output or Recorder()
    stats = LiveSession(live, Camera(VideoFileSource(clip, realtime=realtime)), output, schedule=schedule).run()
    return stats, output


def test_the_mailbox_holds_one_frame_and_counts_the_rest_as_dropped():
    box = LatestFrame()
    for i in range(100):
        box.put(CapturedFrame(np.zeros((2, 2, 3), np.uint8), i, time.perf_counter()))
    assert box.take(timeout=1).index == 99 and box.dropped == 99 and box.capacity == 1
    assert box.take(timeout=0.01) is None  # nothing new
    box.put(CapturedFrame(np.zeros((2, 2, 3), np.uint8), 100, 0.0))
    waiting = threading.Thread(target=box.put, args=(CapturedFrame(np.zeros((2, 2, 3), np.uint8), 101, 0.0), True))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()  # wait=True: nothing is dropped, the producer waits
    assert box.take(timeout=1).index == 100
    waiting.join(1)
    assert box.take(timeout=1).index == 101 and box.dropped == 99
    box.close()
    assert box.take(timeout=1) is None and box.closed


def test_latest_frame_wins_under_a_slow_model(model, clip, monkeypatch):
    steps = []
    decode = model.generator.decode

    def slow_decode(*args, **kwargs):  # about 7 fps for a 20 fps camera
        start = time.perf_counter()
        time.sleep(0.15)
        result = decode(*args, **kwargs)
        steps.append(time.perf_counter() - start)
        return result

    monkeypatch.setattr(model.generator, "decode", slow_decode)
    stats, output = run_session(model, clip, realtime=True)
    indices = [index for index, _ in output.frames]
    assert stats.captured == 12 and stats.animated == len(indices) < 12
    assert stats.dropped == 12 - stats.animated > 0  # every camera frame is either animated or dropped
    assert indices == sorted(set(indices)) and indices[-1] == 11  # in order, and the input's end is reached
    # Latency stays within a step or two (a queue would add up all the steps before it).
    assert max(stats.latencies) < 2.5 * max(steps) + 0.2, (stats.latencies, steps)
    assert output.closed is True


def test_recalibration_restarts_relative_motion_from_the_current_frame(model, clip):
    stats, output = run_session(model, clip, schedule={5: ["x"]})
    assert stats.dropped == 0 and [i for i, _ in output.frames] == list(range(12))
    assert stats.commands == [(5, "x")]
    frames = read_video(clip)
    animator = Animator(model, read_image(asset("source.png")), batch_size=1)
    before = [f.image for f in animator.stream(frames[:5])]
    after = list(animator.stream(frames[5:], animator.keypoints_at(frames, 5)))
    expected = np.stack(before + [f.image for f in after])
    got = np.stack([image for _, image in output.frames])
    assert np.abs(got.astype(int) - expected).max() <= 1
    np.testing.assert_allclose(after[0].kp_used, animator.kp_source_array, atol=1e-5)  # the neutral pose


def test_next_source_and_overlay_switch_from_their_frame_on(model, clip, tmp_path):
    other = make_image(tmp_path / "other.png", size=(64, 64))
    stats, output = run_session(model, clip, sources=(asset("source.png"), other), schedule={3: ["n"], 6: ["o"]})
    frames = read_video(clip)
    first = Animator(model, read_image(asset("source.png")), batch_size=1)
    second = Animator(model, read_image(other), batch_size=1)
    reference = first.keypoints_at(frames, 0)
    expected = [f.image for f in first.stream(frames[:3])]
    switched = list(second.stream(frames[3:], reference))  # the neutral pose is kept across sources
    expected += [f.image for f in switched[:3]] + [overlay(second, f) for f in switched[3:]]
    got = np.stack([image for _, image in output.frames])
    assert np.abs(got.astype(int) - np.stack(expected)).max() <= 1


def test_quit_and_errors_end_cleanly(model, clip, tmp_path, monkeypatch):
    out = tmp_path / "quit.mp4"
    stats, _ = run_session(model, clip, schedule={4: ["q"]}, output=FileOutput(out))
    assert stats.animated == 4
    with VideoReader(out) as video:
        assert video.fps == 20 and len(list(video)) == 4
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("boom")
        return decode(*args, **kwargs)

    decode = model.generator.decode
    monkeypatch.setattr(model.generator, "decode", failing)
    with pytest.raises(RuntimeError, match="boom"):
        run_session(model, clip, output=FileOutput(tmp_path / "failed.mp4"))
    assert list(tmp_path.iterdir()) == [out]  # no half-written file
    assert not [t for t in threading.enumerate() if t.name in ("fomm-camera", "fomm-encode", "fomm-decode")]


def test_cli_writes_one_frame_per_camera_frame_and_reports_speed(clip, tmp_path, capsys):
    out = tmp_path / "live.mp4"
    assert main(["live", "--camera", str(clip), "--source", str(asset("source.png")), "--output", str(out),
                 "--device", "cpu", "--threads", "1", "--commands", "3:x,6:o"]) == 0
    printed = capsys.readouterr().out
    assert "camera frames animated" in printed and "fps" in printed and "latency" in printed
    with VideoReader(out) as video:  # plays in real time: dropped frames repeat the last result
        assert video.fps == 20 and len(list(video)) == 12
    assert main(["live", "--camera", str(tmp_path / "none.mp4"), "--source", str(asset("source.png")),
                 "--output", str(tmp_path / "x.mp4")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["live", "--camera", str(clip), "--source", str(asset("source.png")), "--output", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    before = Path(clip).read_bytes()  # the camera file is an input: never written, --overwrite or not
    assert main(["live", "--camera", str(clip), "--source", str(asset("source.png")), "--output", str(clip),
                 "--overwrite"]) == 2
    assert "is also an input" in capsys.readouterr().err and Path(clip).read_bytes() == before


def test_live_mode_starts_no_thread_per_frame(model, monkeypatch):
    """Each camera frame goes straight to the animator's batch method: over 50 frames the number of live
    threads stays what it was after the first."""
    live = LiveAnimator(model, [SOURCE])
    frames = [np.full((48, 64, 3), 40 + 4 * i, np.uint8) for i in range(50)]
    live.animate(frames[0])
    before = threading.active_count()
    started = []
    real_start = threading.Thread.start

    def counting_start(self):
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for frame in frames[1:]:
        live.animate(frame)
    assert started == [] and threading.active_count() == before
