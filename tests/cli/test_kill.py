"""kill -9 at random moments of ``fomm animate``: the previous output stays byte-identical or a complete
new one replaces it. A killed process cannot clean up, so the one other file that may remain beside the
output is fomm's hidden temporary file (``.out.mp4.partial.mp4``, :func:`fomm.io.outputs.partial_path`),
which the next run writing that output removes before it starts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from fomm.io.outputs import partial_path
from tests.media import make_image, make_video

pytestmark = pytest.mark.slow

KILLS = 20
SEED = 20261127


def test_kill_9_never_leaves_a_broken_output(checkpoint, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    source = make_image(media / "source.png", size=(64, 48))
    # With sound the output file exists from the first frame on (audio packets are muxed at once; H.264
    # alone would reach the file only when the encoder's lookahead fills), so kills land mid-write.
    driving = make_video(media / "driving.mp4", n=24, size=(64, 48), fps=25, audio=True)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "out.mp4"
    partial = partial_path(out)

    def start(layout: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "fomm", "animate", str(source), str(driving), "-o", str(out),
                                 "--overwrite", "--checkpoint", str(checkpoint), "--batch-size", "2", "--layout",
                                 layout], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})

    def complete(layout: str) -> tuple[bytes, float]:
        began = time.monotonic()
        proc = start(layout)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        return out.read_bytes(), time.monotonic() - began

    layouts = ("result", "side-by-side")
    complete_outputs = {}
    for layout in layouts:
        complete_outputs[layout], seconds = complete(layout)
    assert complete_outputs["result"] != complete_outputs["side-by-side"]
    assert complete(layouts[-1])[0] == complete_outputs[layouts[-1]]  # the encoder is deterministic
    rng = random.Random(SEED)
    previous = out.read_bytes()
    outcomes = {"previous": 0, "new": 0, "mid-write": 0}
    for kill in range(KILLS):
        layout = layouts[kill % 2]
        proc = start(layout)
        if kill % 3 == 0:  # anywhere in the run, start-up and model loading included
            time.sleep(rng.uniform(0, seconds))
        else:  # while frames are being written (or published)
            deadline = time.monotonic() + 120
            while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.2))
        outcomes["mid-write"] += partial.exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
        names = set(os.listdir(folder))
        assert names <= {out.name, partial.name} and out.name in names, names
        now = out.read_bytes()
        assert now in (previous, complete_outputs[layout]), f"kill {kill}: a broken output"
        outcomes["previous" if now == previous else "new"] += 1
        previous = now
    assert outcomes["mid-write"] >= 1, outcomes  # the kills did land while the output was being written
    complete("result")  # the next run removes the stale temporary file
    assert os.listdir(folder) == [out.name]
