"""Reduced precision proved by the arithmetic actually done, end to end through ``fomm animate``
(issue 30): every convolution's output has the dtype asked for, and the float32 islands (keypoints,
jacobians, the dense motion's sampling grid, every ``grid_sample``) stay float32 in the same run.
The frame-quality tolerances of tests/test_precision.py are met by fp32 too, so they cannot tell a
bf16 run from an fp32 one; these tests can.

Planted bugs caught: ``fomm.precision.autocast`` returning a null context for every dtype (bf16
silently running in fp32) -> ``test_bf16_runs_every_convolution_in_bf16``; ``full_precision`` (the
float32 islands) returning its input unchanged -> ``test_bf16_keeps_the_float32_islands_end_to_end``.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fomm.precision as precision
from fomm.cli import main
from fomm.models import Keypoints
from tests.media import make_frame_folder, make_image


class Record:
    """The dtypes seen by every Conv2d output, every grid_sample and every Keypoints made in a run."""

    def __init__(self, monkeypatch):
        self.convs: Counter = Counter()
        self.grids: Counter = Counter()
        self.keypoints: Counter = Counter()
        conv_forward, grid_sample, keypoints_init = nn.Conv2d.forward, F.grid_sample, Keypoints.__init__

        def forward(module, x):
            out = conv_forward(module, x)
            self.convs[out.dtype] += 1
            return out

        def sample(input, grid, *args, **kwargs):
            self.grids[(input.dtype, grid.dtype)] += 1
            return grid_sample(input, grid, *args, **kwargs)

        def init(kp, value, jacobian=None, *args, **kwargs):
            self.keypoints[(value.dtype, None if jacobian is None else jacobian.dtype)] += 1
            keypoints_init(kp, value, jacobian, *args, **kwargs)

        monkeypatch.setattr(nn.Conv2d, "forward", forward)
        monkeypatch.setattr(F, "grid_sample", sample)
        monkeypatch.setattr(Keypoints, "__init__", init)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("precision")
    return make_image(folder / "source.png", size=(64, 64)), make_frame_folder(folder / "frames", n=3, size=(64, 64))


def _animate(golden, media, tmp_path, monkeypatch, name: str) -> Record:
    monkeypatch.setenv(precision.ALLOW_SLOW_ENV, "1")  # emulated where this CPU lacks native bf16/fp16
    record = Record(monkeypatch)
    source, frames = media
    assert main(["animate", str(source), str(frames), "-o", str(tmp_path / "out"), "--checkpoint",
                 str(golden / "tiny-cpk.pth.tar"), "--size", "128", "--precision", name, "--device", "cpu"]) == 0
    assert record.convs and record.grids and record.keypoints  # the hooks saw the run
    return record


@pytest.mark.parametrize("name, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_bf16_runs_every_convolution_in_bf16(golden, media, tmp_path, monkeypatch, name, dtype):
    record = _animate(golden, media, tmp_path, monkeypatch, name)
    assert set(record.convs) == {dtype}, record.convs


def test_fp32_runs_every_convolution_in_fp32(golden, media, tmp_path, monkeypatch):
    record = _animate(golden, media, tmp_path, monkeypatch, "fp32")
    assert set(record.convs) == {torch.float32}
    assert set(record.grids) == {(torch.float32, torch.float32)}


def test_bf16_keeps_the_float32_islands_end_to_end(golden, media, tmp_path, monkeypatch):
    record = _animate(golden, media, tmp_path, monkeypatch, "bf16")
    assert set(record.keypoints) == {(torch.float32, torch.float32)}, record.keypoints  # soft-argmax, jacobians
    assert set(record.grids) == {(torch.float32, torch.float32)}, record.grids  # the sampling, image and grid


def test_autocast_is_a_no_op_only_for_float32():
    x = torch.ones(1, 1, 4, 4)
    conv = nn.Conv2d(1, 1, 1)
    with precision.autocast("cpu", torch.bfloat16):
        assert conv(x).dtype == torch.bfloat16
    with precision.autocast(torch.device("cpu"), torch.float32):
        assert conv(x).dtype == torch.float32
