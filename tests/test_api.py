"""The Python API's one entry point, ``fomm.animate_file``: what the README shows works, with crop and
paste-back, progress events, cancelling from the callback, and the same frames as the command line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import fomm
from fomm.cli import main
from fomm.io import read_image
from fomm.pipeline import Output, Progress
from tests.animation.helpers import tiny_checkpoint
from tests.crop.scenes import moving_frames, place, write_video

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(golden, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    photo, center, _ = place((180, 240), 160, 50, 10)
    Image.fromarray(photo).save(folder / "photo.png")
    frames, _, _ = moving_frames(n=5, jump=99, blank=None)
    write_video(folder / "driving.mp4", frames)
    return {"photo": folder / "photo.png", "driving": folder / "driving.mp4", "center": center,
            "checkpoint": tiny_checkpoint(golden, folder)}


def _frames(folder) -> np.ndarray:
    return np.stack([read_image(p) for p in sorted(folder.iterdir()) if not p.name.startswith(".")])


def test_animate_file_with_crop_and_paste_back_equals_the_command_line(inputs, tmp_path):
    options = fomm.AnimationOptions(crop="auto", paste_back=True, best_frame="auto")
    events: list[Progress] = []
    result = fomm.animate_file(inputs["checkpoint"], inputs["photo"], inputs["driving"], tmp_path / "api", options,
                               progress=events.append, device="cpu")
    assert result.frames == 5 and result.output == tmp_path / "api" and result.best_frame is not None
    assert len(result.boxes) == 1 and result.boxes[0].contains(*inputs["center"])
    stages = [e.stage for e in events]
    assert stages.count("animate") == 5 and "track driving" in stages and "best frame" in stages
    assert [e.done for e in events if e.stage == "animate"] == [1, 2, 3, 4, 5]
    assert any(e.note and e.note.startswith("starting from frame") for e in events)
    pictures = _frames(tmp_path / "api")
    assert pictures.shape == (5, 180, 240, 3)  # pasted back: the photo's size
    assert main(["animate", str(inputs["photo"]), str(inputs["driving"]), "-o", str(tmp_path / "cli"),
                 "--checkpoint", str(inputs["checkpoint"]), "--device", "cpu", "--crop", "auto", "--paste-back",
                 "--best-frame", "auto", "--precision", "fp32"]) == 0  # the library's default, not auto
    np.testing.assert_array_equal(pictures, _frames(tmp_path / "cli"))


def test_several_outputs_from_one_run(inputs, tmp_path):
    model = fomm.load_model(inputs["checkpoint"], device="cpu")
    result = fomm.animate_file(model, inputs["photo"], inputs["driving"],
                               [Output(tmp_path / "result"), Output(tmp_path / "side", layout="side-by-side",
                                                                    keypoints=True, scale=2)])
    assert [p.name for p in result.outputs] == ["result", "side"]
    size = model.config.frame_size
    assert _frames(tmp_path / "result").shape == (5, size, size, 3)
    assert _frames(tmp_path / "side").shape == (5, 2 * size, 2 * 3 * size, 3)


def test_an_exception_in_the_progress_callback_cancels_and_leaves_nothing(inputs, tmp_path):
    class Stop(Exception):
        pass

    def progress(event: Progress) -> None:
        if event.stage == "animate" and event.done == 2:
            raise Stop

    with pytest.raises(Stop):
        fomm.animate_file(inputs["checkpoint"], inputs["photo"], inputs["driving"], tmp_path / "out.mp4",
                          progress=progress, device="cpu")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_kept_unless_overwrite(inputs, tmp_path):
    out = tmp_path / "out.gif"
    out.write_bytes(b"precious")
    with pytest.raises(fomm.FommError, match="exists"):
        fomm.animate_file(inputs["checkpoint"], inputs["photo"], inputs["driving"], out, device="cpu")
    assert out.read_bytes() == b"precious"
    fomm.animate_file(inputs["checkpoint"], inputs["photo"], inputs["driving"], out, device="cpu", overwrite=True)
    assert out.read_bytes()[:3] == b"GIF"
