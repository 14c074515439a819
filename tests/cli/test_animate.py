"""``fomm animate`` end to end on tiny generated media, and every refusal of bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import fomm.cli.common as cli_common
from fomm.animation import Animator, animate
from fomm.cli import main
from fomm.io import VideoReader, read_image
from tests.animation.helpers import SIZE
from tests.media import make_frame_folder, make_gif, make_image, make_video, truncate

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    return {
        "mp4": make_video(folder / "driving.mp4", n=12, size=(64, 48), fps=25, audio=True),
        "silent": make_video(folder / "silent.mp4", n=6, size=(48, 64), fps=30),
        "gif": make_gif(folder / "driving.gif", n=6, size=(64, 48), fps=10),
        "folder": make_frame_folder(folder / "frames", n=5, size=(64, 48)),
        "rgba": make_image(folder / "source.png", size=(40, 56), mode="RGBA"),  # non-square, transparent half
        "wide": make_image(folder / "wide.jpg", size=(96, 40)),
    }


def _run(*argv) -> int:
    return main(["animate", *map(str, argv)])


def _probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        return {"frames": frames, "fps": float(video.average_rate), "size": (video.width, video.height),
                "duration": container.duration / av.time_base, "audio": bool(container.streams.audio)}


def _folder_frames(path: Path) -> np.ndarray:
    return np.stack([read_image(p) for p in sorted(path.iterdir()) if not p.name.startswith(".")])


def _library(model, media, name: str, **options) -> np.ndarray:
    with VideoReader(media[name]) as frames:
        return np.stack(list(animate(model, read_image(media["rgba"]), frames, batch_size=4, **options)))


def test_mp4_with_audio(media, checkpoint, model, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert _run(media["rgba"], media["mp4"], "-o", out, "--checkpoint", checkpoint) == 0
    info = _probe(out)
    assert info["frames"] == 12 and info["fps"] == pytest.approx(25) and info["size"] == (SIZE, SIZE)
    assert info["duration"] == pytest.approx(12 / 25, abs=0.05)
    assert info["audio"]
    assert capsys.readouterr().out.strip().startswith("12 frames in ")
    with VideoReader(out) as reader:
        written = np.stack(list(reader)).astype(float)
    assert np.abs(written - _library(model, media, "mp4")).mean() < 3  # H.264 at crf 18


@pytest.mark.parametrize("options", [[], ["--mode", "absolute"], ["--adapt-scale", "--best-frame", "auto"],
                                     ["--best-frame", "3"]], ids=["relative", "absolute", "adapt-auto", "best-3"])
def test_png_folder_output_equals_the_library(media, checkpoint, model, tmp_path, options):
    """A PNG folder is lossless: the CLI writes exactly the library's frames."""
    out = tmp_path / "frames"
    assert _run(media["rgba"], media["folder"], "-o", out, "--checkpoint", checkpoint, "--batch-size", 4,
                "--precision", "fp32", *options) == 0  # the library's default (auto is bf16 on AMX CPUs)
    kwargs = {"mode": "absolute"} if "absolute" in options else {}
    kwargs |= {"adapt_scale": True} if "--adapt-scale" in options else {}
    if "--best-frame" in options:
        value = options[options.index("--best-frame") + 1]
        kwargs["best_frame"] = value if value == "auto" else int(value)
    expected = _library(model, media, "folder", **kwargs)
    np.testing.assert_array_equal(_folder_frames(out), expected)


def test_gif_side_by_side_with_keypoints(media, checkpoint, tmp_path):
    out = tmp_path / "out.gif"
    assert _run(media["wide"], media["gif"], "-o", out, "--checkpoint", checkpoint, "--layout", "side-by-side",
                "--keypoints", "--fit", "pad") == 0
    info = _probe(out)
    assert info["frames"] == 6 and info["size"] == (3 * SIZE, SIZE)
    assert info["fps"] == pytest.approx(10, rel=0.05) and not info["audio"]


def test_no_audio_and_silent_driving(media, checkpoint, tmp_path):
    out = tmp_path / "mute.mp4"
    assert _run(media["rgba"], media["mp4"], "-o", out, "--checkpoint", checkpoint, "--no-audio") == 0
    assert not _probe(out)["audio"]
    out = tmp_path / "silent.mp4"
    assert _run(media["rgba"], media["silent"], "-o", out, "--checkpoint", checkpoint) == 0
    info = _probe(out)
    assert info["frames"] == 6 and info["fps"] == pytest.approx(30) and not info["audio"]


def test_truncated_driving_animates_what_decodes(media, checkpoint, tmp_path, capsys):
    broken = truncate(make_video(tmp_path / "long.mp4", n=24, size=(64, 48)), keep=0.6)
    out = tmp_path / "out.mp4"
    assert _run(media["rgba"], broken, "-o", out, "--checkpoint", checkpoint) == 0
    err = capsys.readouterr().err
    assert "truncated or damaged" in err
    assert 0 < _probe(out)["frames"] < 24


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if the model gets loaded: bad input must be refused before any work."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(cli_common, "load_model", refuse)


def _bad_inputs(media: dict, tmp: Path) -> dict[str, tuple[list, str]]:
    junk = tmp / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    existing = tmp / "exists.mp4"
    existing.write_bytes(b"keep me")
    return {
        "missing source": ([tmp / "nope.png", media["mp4"], "-o", tmp / "o.mp4"], "nope.png not found"),
        "missing driving": ([media["rgba"], tmp / "nope.mp4", "-o", tmp / "o.mp4"], "nope.mp4 not found"),
        "folder as source": ([tmp, media["mp4"], "-o", tmp / "o.mp4"], "is a folder"),
        "source video with a still's option": ([media["mp4"], media["mp4"], "-o", tmp / "o.mp4", "--best-frame",
                                                "auto"], "--best-frame auto is for a still source"),
        "image as driving": ([media["rgba"], media["wide"], "-o", tmp / "o.mp4"], "is a still image"),
        "no decodable frames": ([media["rgba"], junk, "-o", tmp / "o.mp4"], "junk.mp4"),
        "existing output": ([media["rgba"], media["mp4"], "-o", existing], "--overwrite"),
        "unsupported output": ([media["rgba"], media["mp4"], "-o", tmp / "o.avi"], "unsupported extension"),
        "audio into gif": ([media["rgba"], media["mp4"], "-o", tmp / "o.gif", "--audio"], "cannot carry sound"),
        "absolute with adapt scale": ([media["rgba"], media["mp4"], "-o", tmp / "o.mp4", "--mode", "absolute",
                                       "--adapt-scale"], "--adapt-scale"),
    }


BAD = ["missing source", "missing driving", "folder as source", "source video with a still's option",
       "image as driving", "no decodable frames",
       "existing output", "unsupported output", "audio into gif", "absolute with adapt scale"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_before_loading_the_model(media, tmp_path, capsys, no_model, case):
    argv, message = _bad_inputs(media, tmp_path)[case]
    before = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    assert _run(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fomm animate: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.stat().st_size for p in tmp_path.iterdir()} == before  # nothing written or replaced


def test_interrupt_leaves_no_output(media, checkpoint, tmp_path, monkeypatch, capsys):
    real_batch = Animator.animate_batch
    calls = []

    def interrupted(self, *args, **kwargs):  # Ctrl-C while the second batch is animated
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_batch(self, *args, **kwargs)

    monkeypatch.setattr(Animator, "animate_batch", interrupted)
    assert _run(media["rgba"], media["mp4"], "-o", tmp_path / "out.mp4", "--checkpoint", checkpoint) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_entry_point(media, checkpoint, tmp_path):
    out = tmp_path / "out.mp4"
    proc = subprocess.run([sys.executable, "-m", "fomm", "animate", str(media["rgba"]), str(media["silent"]),
                           "-o", str(out), "--checkpoint", str(checkpoint), "--best-frame", "auto"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("6 frames in ") and proc.stdout.strip().endswith(f"-> {out}")
    assert _probe(out)["frames"] == 6
