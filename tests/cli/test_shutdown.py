"""The animation pipeline shuts down in one order, whatever stops it: a decode error, an encode error,
a bug, Ctrl-C in the networks, a model that fails to load. Each thread is joined before the container
it uses is closed, nothing is left open or running, the previous output is intact and no partial file
remains; the command ends with one line (exit 2, or 130 for Ctrl-C), a bug with its traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fomm.cli import main
from fomm.io import VideoReader, VideoWriter
from tests.cli import faults
from tests.conftest import REPO
from tests.media import make_frame_folder, make_image, make_video

pytestmark = pytest.mark.slow

PREVIOUS = b"the previous output"
PROGRESS = re.compile(r"^[\w ]+: +\d+%\|")  # a tqdm progress line


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    damaged = make_frame_folder(folder / "damaged", n=10, size=(64, 48))
    (damaged / "frame7.png").write_bytes(b"not a png")  # a decode error in the middle of the clip
    bad_checkpoint = folder / "bad.pth.tar"
    bad_checkpoint.write_bytes(b"\x00" * 64)
    return {"source": make_image(folder / "source.png", size=(64, 48)),
            "driving": make_video(folder / "driving.mp4", n=12, size=(64, 48), fps=25, audio=True),
            "damaged": damaged, "bad_checkpoint": bad_checkpoint}


def _pipeline_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("fomm-") and t.is_alive())


@pytest.fixture
def closes(monkeypatch) -> list[tuple[str, list[str]]]:
    """Each container close, with the pipeline threads still alive at that moment."""
    events: list[tuple[str, list[str]]] = []
    for cls, method in ((VideoReader, "close"), (VideoWriter, "close"), (VideoWriter, "abort")):
        real = getattr(cls, method)

        def recording(self, *args, _real=real, _what=f"{cls.__name__}.{method}", **kwargs):
            events.append((_what, _pipeline_threads()))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, recording)
    return events


def _open_files_under(folder: Path) -> list[str]:
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            paths.append(target)
    return paths


CASES = {  # name: (fault, driving, checkpoint, expected exit code or the exception a bug raises)
    "decode error": ("none", "damaged", None, 2),
    "encode error": ("encode-oserror:3", "driving", None, 2),
    "encode bug": ("encode-bug:3", "driving", None, RuntimeError),
    "ctrl-c in the networks": ("interrupt:2", "driving", None, 130),
    "model fails to load": ("none", "driving", "bad_checkpoint", 2),
    "success": ("none", "driving", None, 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_animate_shuts_down_in_order(media, checkpoint, tmp_path, monkeypatch, closes, case):
    fault, driving, bad, expected = CASES[case]
    faults.install(fault, monkeypatch.setattr)
    out = tmp_path / "out.mp4"
    out.write_bytes(PREVIOUS)
    argv = ["animate", str(media["source"]), str(media[driving]), "-o", str(out), "--overwrite",
            "--checkpoint", str(media[bad] if bad else checkpoint), "--batch-size", "2"]
    if isinstance(expected, int):
        assert main(argv) == expected
    else:
        with pytest.raises(expected):
            main(argv)
    assert closes and all(alive == [] for _, alive in closes), closes  # every thread joined before any close
    assert "VideoReader.close" in [what for what, _ in closes]
    assert _pipeline_threads() == [] and _open_files_under(tmp_path) == []
    assert _open_files_under(media["source"].parent) == []
    assert os.listdir(tmp_path) == ["out.mp4"]  # no partial file beside it
    if expected == 0:
        assert out.read_bytes() != PREVIOUS and out.stat().st_size > 1000
    else:
        assert out.read_bytes() == PREVIOUS


def test_keypoints_overlay_shuts_down_in_order(media, checkpoint, tmp_path, monkeypatch, closes):
    faults.install("encode-oserror:3", monkeypatch.setattr)
    overlay, csv = tmp_path / "overlay.mp4", tmp_path / "kp.csv"
    argv = ["keypoints", str(media["driving"]), "-o", str(csv), "--overlay", str(overlay), "--checkpoint",
            str(checkpoint), "--batch-size", "2"]
    assert main(argv) == 2
    assert closes and all(alive == [] for _, alive in closes), closes
    assert _pipeline_threads() == [] and _open_files_under(tmp_path) == []
    assert os.listdir(tmp_path) == []


def test_demo_interrupted_shuts_down_in_order(tmp_path, monkeypatch, closes):
    faults.install("interrupt:2", monkeypatch.setattr)
    assert main(["demo", "-o", str(tmp_path), "--device", "cpu"]) == 130
    assert closes and all(alive == [] for _, alive in closes), closes
    assert _pipeline_threads() == [] and os.listdir(tmp_path) == []


def _fomm(fault: str, *argv, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.cli.faults", fault, *map(str, argv)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, **popen)


SUBPROCESS = {  # name: (fault, driving, exit code, what the line says)
    "decode error": ("none", "damaged", 2, "frame7.png"),
    "encode error": ("encode-oserror:3", "driving", 2, "No space left on device"),
    "ctrl-c in the networks": ("interrupt:2", "driving", 130, "interrupted"),
}


@pytest.mark.parametrize("case", list(SUBPROCESS))
def test_animate_process_ends_with_one_line(media, checkpoint, tmp_path, case):
    fault, driving, code, says = SUBPROCESS[case]
    out = tmp_path / "out.mp4"
    out.write_bytes(PREVIOUS)
    proc = _fomm(fault, "animate", media["source"], media[driving], "-o", out, "--overwrite", "--checkpoint",
                 checkpoint, "--batch-size", "2")
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip() and not PROGRESS.match(line)]
    assert proc.returncode == code, err
    assert len(lines) == 1 and lines[0].startswith("fomm animate: ") and says in lines[0], err
    assert "Traceback" not in err
    assert out.read_bytes() == PREVIOUS and os.listdir(tmp_path) == ["out.mp4"]


def test_a_bug_shows_its_traceback(media, checkpoint, tmp_path):
    out = tmp_path / "out.mp4"
    proc = _fomm("encode-bug:3", "animate", media["source"], media["driving"], "-o", out, "--checkpoint",
                 checkpoint)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" in err and "RuntimeError: injected bug in the encoder" in err
    assert os.listdir(tmp_path) == []


SIGNALS = {signal.SIGINT: "fomm animate: interrupted", signal.SIGTERM: "fomm animate: interrupted by SIGTERM",
           signal.SIGHUP: "fomm animate: interrupted by SIGHUP"}


@pytest.mark.parametrize("signum", list(SIGNALS), ids=lambda s: signal.Signals(s).name)
def test_ctrl_c_signal_mid_run(media, checkpoint, tmp_path, signum):
    """A real SIGINT (and SIGTERM, SIGHUP: a service stopped, a terminal closed) while frames are being
    written: exit 128 + the signal (130 for Ctrl-C), one line, the previous output intact."""
    out = tmp_path / "out.mp4"
    out.write_bytes(PREVIOUS)
    proc = _fomm("slow:0.3", "animate", media["source"], media["driving"], "-o", out, "--overwrite",
                 "--checkpoint", checkpoint, "--batch-size", "1")
    partial = tmp_path / ".out.mp4.partial.mp4"
    deadline = time.monotonic() + 60
    while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert partial.exists(), "the run never started writing"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == SIGNALS[signum]
    assert out.read_bytes() == PREVIOUS and os.listdir(tmp_path) == ["out.mp4"]


class _HalfMade:
    """An object whose constructor is interrupted before it sets what its ``__del__`` needs (as tqdm's)."""

    def __init__(self):
        raise KeyboardInterrupt

    def __del__(self):
        self.pos.close()  # AttributeError: never set


def test_an_interrupt_inside_a_constructor_ends_with_the_one_line(monkeypatch, capsys):
    """A signal that strikes inside a constructor leaves a half-made object: its failing ``__del__`` is not
    shown after the "interrupted" line (it was, as "Exception ignored in tqdm.__del__" and a traceback)."""
    import fomm.cli.info

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(fomm.cli.info, "run", lambda args: _HalfMade())
    assert main(["info", "default"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["fomm info: interrupted"]
    assert unraisable == [] and sys.unraisablehook == unraisable.append


def test_sigterm_during_synth_leaves_nothing(tmp_path):
    """Every long command stops on SIGTERM as on Ctrl-C: here the dataset folder being written."""
    proc = _fomm("none", "synth", tmp_path / "data", "--videos", "400", "--frames", "8")
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".*partial*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(tmp_path.glob(".*partial*")), "synth never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "fomm synth: interrupted by SIGTERM"
    assert os.listdir(tmp_path) == []


def _swallow_a_sigterm() -> None:
    """SIGTERM delivered while code that discards exceptions runs, as a Cython module's init does while
    numpy.random is imported lazily (how the test above once saw synth finish and exit 0)."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # bytecodes: the handler runs in the first of them
            pass
    except KeyboardInterrupt:
        pass


def test_a_sigterm_swallowed_on_the_way_still_stops_synth(tmp_path, monkeypatch, capsys):
    from fomm.data import synthetic

    real, written = synthetic._write_video, []

    def write_video(split_dir, name, *args):
        if len(written) == 3:
            _swallow_a_sigterm()
        written.append(name)
        return real(split_dir, name, *args)

    monkeypatch.setattr(synthetic, "_write_video", write_video)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["synth", str(tmp_path / "data"), "--videos", "20", "--frames", "2"]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err.strip().splitlines()[-1] == "fomm synth: interrupted by SIGTERM"
    assert len(written) == 4 and os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is before  # the handler put back


def test_a_sigterm_swallowed_on_the_way_still_stops_animate(media, checkpoint, tmp_path, monkeypatch, capsys):
    from fomm.models.generator import OcclusionAwareGenerator

    real, calls = OcclusionAwareGenerator.decode, []

    def decode(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            _swallow_a_sigterm()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(OcclusionAwareGenerator, "decode", decode)
    out = tmp_path / "out.mp4"
    code = main(["animate", str(media["source"]), str(media["driving"]), "-o", str(out),
                 "--checkpoint", str(checkpoint),
                 "--batch-size", "1"])
    assert code == 128 + signal.SIGTERM, capsys.readouterr().err
    assert capsys.readouterr().err.strip().splitlines()[-1] == "fomm animate: interrupted by SIGTERM"
    assert os.listdir(tmp_path) == []
