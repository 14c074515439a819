"""``fomm animate`` with the inputs the other CLI tests leave out: .avi and .webm driving videos, a
variable-frame-rate driving video, and ``--align-corners`` / ``--no-align-corners``."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from fomm.animation import animate
from fomm.cli import main
from fomm.io import read_image, to_uint8
from tests.io.test_reader import VFR_DURATION, VFR_TIMES
from tests.media import make_image, make_video

pytestmark = pytest.mark.slow


def _folder_frames(path: Path) -> np.ndarray:
    return np.stack([read_image(p) for p in sorted(path.iterdir()) if not p.name.startswith(".")])


@pytest.mark.parametrize(("suffix", "audio_codec"), [(".avi", None), (".webm", "libopus")])
def test_avi_and_webm_driving(tmp_path, checkpoint, model, suffix, audio_codec):
    """Every frame of the container is animated, exactly as the library animates the frames the test
    media was built from (decoded back: the codecs are lossy), and the sound goes to the .mp4."""
    source = make_image(tmp_path / "source.png", size=(40, 56))
    driving = make_video(tmp_path / f"driving{suffix}", n=6, size=(64, 48), fps=25, audio=audio_codec is not None,
                         audio_codec=audio_codec or "aac", sample_rate=48000)
    frames_out = tmp_path / "frames"
    assert main(["animate", str(source), str(driving), "-o", str(frames_out), "--checkpoint", str(checkpoint),
                 "--batch-size", "4", "--precision", "fp32"]) == 0  # the library's default, not auto's bf16
    with av.open(str(driving)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 6
    expected = np.stack(list(animate(model, read_image(source), decoded, batch_size=4)))
    np.testing.assert_array_equal(_folder_frames(frames_out), expected)

    video_out = tmp_path / "out.mp4"
    assert main(["animate", str(source), str(driving), "-o", str(video_out), "--checkpoint", str(checkpoint)]) == 0
    with av.open(str(video_out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
        assert float(container.streams.video[0].average_rate) == pytest.approx(25)
        assert bool(container.streams.audio) == (audio_codec is not None)


def test_variable_frame_rate_driving_keeps_its_timing(tmp_path, checkpoint):
    """The driving clip's frames are at VFR_TIMES (0 to 1.0 s, the last shown for 1/25 s): the output has
    every frame, in order in time, and lasts the true 1.04 s."""
    source = make_image(tmp_path / "source.png", size=(48, 48))
    driving = make_video(tmp_path / "vfr.mp4", n=len(VFR_TIMES), times=VFR_TIMES, fps=25)
    out = tmp_path / "out.mp4"
    assert main(["animate", str(source), str(driving), "-o", str(out), "--checkpoint", str(checkpoint)]) == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        starts = [float(f.pts * f.time_base) for f in container.decode(stream)]
        duration = float(stream.duration * stream.time_base)
    assert len(starts) == len(VFR_TIMES) and starts[0] == 0
    assert all(later > earlier for earlier, later in zip(starts, starts[1:], strict=False))
    assert starts[-1] < VFR_DURATION
    assert duration == pytest.approx(VFR_DURATION, abs=0.005)


@pytest.fixture(scope="module")
def golden_media(golden, tmp_path_factory):
    """The golden fixture's source 0 and its three driving frames as PNGs (they are whole 1/255 steps)."""
    folder = tmp_path_factory.mktemp("golden-media")
    io = np.load(golden / "tiny-io.npz")
    source = folder / "source.png"
    Image.fromarray(to_uint8(torch.from_numpy(io["source"][0]))).save(source)
    driving = folder / "driving"
    driving.mkdir()
    for i, frame in enumerate(to_uint8(torch.from_numpy(io["driving"]))):
        Image.fromarray(frame).save(driving / f"{i}.png")
    expected = {ac: to_uint8(torch.from_numpy(io[f"ac{ac}_gen_prediction"])) for ac in (0, 1)}
    return source, driving, expected


@pytest.mark.parametrize(("flag", "ac"), [("--no-align-corners", 0), ("--align-corners", 1), (None, 1)])
def test_align_corners_flag_gives_the_original_outputs(golden, golden_media, tmp_path, flag, ac):
    """Absolute mode animates source 0 with each driving frame: the authors' code's predictions for the
    same align_corners (golden ac0/ac1), to within uint8 rounding. The other setting's differ in thousands
    of pixel values, so the flag must really reach grid_sample."""
    source, driving, expected = golden_media
    out = tmp_path / "out"
    argv = ["animate", str(source), str(driving), "-o", str(out), "--checkpoint", str(golden / "tiny-cpk.pth.tar"),
            "--config", str(golden / "tiny.yaml"), "--mode", "absolute", "--device", "cpu", "--precision", "fp32"]
    assert main(argv + ([flag] if flag else [])) == 0
    frames = _folder_frames(out)
    assert frames.shape == expected[ac].shape
    assert np.abs(frames.astype(int) - expected[ac]).max() <= 1
    assert (frames != expected[ac]).sum() < 100  # values within 2e-6 of a rounding boundary
    assert (frames != expected[1 - ac]).sum() > 2000

