"""TPSMM animates through the one animator: the API reproduces the authors' demo loop (tpsmm-tiny-io.npz
``demo_relative``), and ``fomm animate --checkpoint tpsmm-tiny.pth.tar --mode relative|absolute|avd`` (no
config) writes the frames the networks give for its inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import fomm
from fomm.animation.animator import animate
from fomm.cli import main
from fomm.models import Keypoints
from tests.tolerances import assert_chain_close


@pytest.fixture(scope="module")
def io(golden):
    path = golden / "tpsmm-tiny-io.npz"
    if not path.exists():
        pytest.fail(f"golden fixture {path} is missing", pytrace=False)
    return dict(np.load(path))


@pytest.fixture(scope="module")
def model(golden):
    return fomm.load_model(golden / "tpsmm-tiny.pth.tar", device="cpu")


def _demo(model, source: torch.Tensor, driving: torch.Tensor, mode: str) -> torch.Tensor:
    """The authors' demo.py make_animation, frame by frame, on our networks (equal to theirs within 1e-4:
    tests/models/test_tpsmm_golden.py)."""
    frames = []
    with torch.no_grad():
        kp_source, kp_initial = model.kp_detector(source), model.kp_detector(driving[:1])
        scale = None
        for i in range(len(driving)):
            kp = model.kp_detector(driving[i:i + 1])
            if mode == "relative":
                from scipy.spatial import ConvexHull

                if scale is None:
                    areas = [ConvexHull(k.value[0].numpy()).volume for k in (kp_source, kp_initial)]
                    scale = float(np.sqrt(areas[0]) / np.sqrt(areas[1]))
                kp = Keypoints((kp.value - kp_initial.value) * scale + kp_source.value)
            elif mode == "avd":
                kp = model.avd_network(kp_source, kp)
            motion = model.dense_motion_network(source, kp, kp_source)
            frames.append(model.inpainting_network(source, motion).prediction)
    return torch.cat(frames)


def test_api_reproduces_the_demo(model, io):
    """Float frames in, float frames out: the golden demo_relative and the standard mode's frames within the
    float32 reproducibility of a TPS chain (tests/tolerances.py: the source keypoints are computed in a
    batch of one where the fixture used two, which the TPS fit of random points amplifies)."""
    source, driving = torch.from_numpy(io["source"][0]), list(torch.from_numpy(io["driving"]))
    for mode, key in (("relative", "demo_relative"), ("absolute", "gen_prediction")):
        frames = torch.stack(list(animate(model, source, driving, mode=mode, size=128, output="tensor")))
        assert_chain_close(frames, io[key], f"{mode} frames")


def _write_inputs(io, folder):
    def uint8(x):
        return (np.clip(x, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)

    Image.fromarray(uint8(io["source"][0])).save(folder / "source.png")
    (folder / "driving").mkdir()
    for i, frame in enumerate(io["driving"]):
        Image.fromarray(uint8(frame)).save(folder / "driving" / f"{i:03d}.png")


def _read_png(path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1).float() / 255


@pytest.mark.parametrize("mode", ["relative", "absolute", "avd"])
def test_cli_animates_each_mode_as_the_demo(golden, model, io, tmp_path, mode, capsys):
    _write_inputs(io, tmp_path)
    out = tmp_path / f"out-{mode}"
    assert main(["animate", str(tmp_path / "source.png"), str(tmp_path / "driving"), "--checkpoint",
                 str(golden / "tpsmm-tiny.pth.tar"), "--mode", mode, "--size", "128", "-o", str(out),
                 "--precision", "fp32"]) == 0
    assert "3 frames" in capsys.readouterr().out
    written = torch.stack([_read_png(out / f"{i:06d}.png") for i in range(3)])
    source = _read_png(tmp_path / "source.png")[None]
    driving = torch.stack([_read_png(tmp_path / "driving" / f"{i:03d}.png") for i in range(3)])
    # The PNGs hold whole levels: against the demo rounded the same way, only the pixels whose chain error
    # (tests/tolerances.py) crosses a rounding boundary differ.
    assert_chain_close(written, (_demo(model, source, driving, mode) * 255).round() / 255, f"{mode} PNGs")


def test_cli_keypoints_writes_the_control_points(golden, model, io, tmp_path, capsys):
    """``fomm keypoints`` writes the 5K TPS control points of every frame, in pixels of the input."""
    _write_inputs(io, tmp_path)
    out = tmp_path / "kp.csv"
    assert main(["keypoints", str(tmp_path / "driving"), "--checkpoint", str(golden / "tpsmm-tiny.pth.tar"),
                 "--size", "128", "-o", str(out)]) == 0
    capsys.readouterr()
    rows = np.loadtxt(out, delimiter=",", skiprows=1)
    assert rows.shape == (3 * 15, 4)
    driving = torch.stack([_read_png(tmp_path / "driving" / f"{i:03d}.png") for i in range(3)])
    with torch.no_grad():
        expected = (model.kp_detector(driving).value.reshape(-1, 2).numpy() + 1) / 2 * 128 - 0.5
    np.testing.assert_allclose(rows[:, 2:], expected, atol=2e-3)
