"""``fomm animate --crop ... --paste-back``: the output has the photo's size, everything outside the
face's box is the photo, several faces, the layouts, and the messages."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from fomm.cli import main
from fomm.crop import Box, CropOptions, detect_faces
from fomm.io import read_image
from tests.crop.scenes import astronaut, moving_frames, place, write_video

pytestmark = pytest.mark.slow

PHOTO = (301, 403)  # odd sides on purpose


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("animate-crop")
    photo, center, _ = place(PHOTO, 256, 60, 30)
    Image.fromarray(photo).save(folder / "photo.png")
    group = photo.copy()  # a second, smaller face on the right
    group[150:278, 260:388] = astronaut(128)
    Image.fromarray(group).save(folder / "group.png")
    Image.fromarray(np.full((90, 120, 3), 128, np.uint8)).save(folder / "blank.png")
    frames, _, _ = moving_frames(n=6, jump=99, blank=None)
    write_video(folder / "driving.mp4", frames)
    write_video(folder / "nobody.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 3, audio=False)
    return {"folder": folder, "photo": photo, "group": group, "center": center}


def _frames(path: Path) -> list[np.ndarray]:
    if path.is_dir():
        return [read_image(p) for p in sorted(path.iterdir()) if not p.name.startswith(".")]
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _source_box(photo: np.ndarray) -> Box:
    """Where --crop auto crops the photo (the largest face framed by the default options)."""
    return CropOptions().crop_box(detect_faces(photo)[0], photo.shape[1], photo.shape[0])


def _outside(box: Box, shape) -> np.ndarray:
    mask = np.ones(shape[:2], bool)
    x, y, side = int(box.x), int(box.y), int(box.w)
    mask[max(y, 0) : y + side, max(x, 0) : x + side] = False
    return mask


def test_paste_back_keeps_the_photo_outside_the_face_exactly(inputs, checkpoint, tmp_path):
    out = tmp_path / "frames"  # PNG frames: exact pixels
    assert main(["animate", str(inputs["folder"] / "photo.png"), str(inputs["folder"] / "driving.mp4"), "-o", str(out),
                 "--checkpoint", str(checkpoint), "--crop", "auto", "--paste-back"]) == 0
    frames, photo = _frames(out), inputs["photo"]
    box = _source_box(photo)
    assert box.contains(*inputs["center"])
    keep = _outside(box, photo.shape)
    assert len(frames) == 6
    for frame in frames:
        assert frame.shape == photo.shape  # the photo's own size
        assert np.array_equal(frame[keep], photo[keep])
        assert not np.array_equal(frame[~keep], photo[~keep])  # the face was animated


def test_paste_back_mp4_has_the_photo_size_rounded_to_even(inputs, checkpoint, tmp_path):
    out = tmp_path / "out.mp4"
    assert main(["animate", str(inputs["folder"] / "photo.png"), str(inputs["folder"] / "driving.mp4"), "-o", str(out),
                 "--checkpoint", str(checkpoint), "--crop", "auto", "--paste-back"]) == 0
    frames, photo = _frames(out), inputs["photo"]
    assert frames[0].shape == (302, 404, 3)
    keep = _outside(_source_box(photo), photo.shape)
    for frame in frames:
        assert np.abs(frame[:301, :403][keep].astype(int) - photo[keep]).mean() < 2  # codec error only
    with av.open(str(out)) as container:
        assert container.streams.audio  # the driving video's sound


def test_every_face_of_a_group_photo(inputs, checkpoint, tmp_path):
    out = tmp_path / "group"
    group = inputs["group"]
    assert len(detect_faces(group)) == 2
    assert main(["animate", str(inputs["folder"] / "group.png"), str(inputs["folder"] / "driving.mp4"), "-o", str(out),
                 "--checkpoint", str(checkpoint), "--crop", "auto", "--paste-back", "--faces", "all"]) == 0
    options = CropOptions()
    boxes = [options.crop_box(b, group.shape[1], group.shape[0]) for b in detect_faces(group)]
    keep = np.logical_and(*[_outside(b, group.shape) for b in boxes])
    frame = _frames(out)[-1]
    assert np.array_equal(frame[keep], group[keep])
    for box in boxes:  # each face changed
        inside = ~_outside(box, group.shape)
        assert not np.array_equal(frame[inside], group[inside])


def test_layouts_work_with_crops(inputs, checkpoint, tmp_path):
    side = tmp_path / "side"
    assert main(["animate", str(inputs["folder"] / "photo.png"), str(inputs["folder"] / "driving.mp4"), "-o", str(side),
                 "--checkpoint", str(checkpoint), "--crop", "auto", "--layout", "side-by-side", "--keypoints"]) == 0
    assert _frames(side)[0].shape == (64, 192, 3)  # source crop | driving crop | result, at the model's size
    pasted = tmp_path / "pasted"
    assert main(["animate", str(inputs["folder"] / "photo.png"), str(inputs["folder"] / "driving.mp4"), "-o",
                 str(pasted), "--checkpoint", str(checkpoint), "--crop", "auto", "--paste-back", "--layout",
                 "side-by-side"]) == 0
    frame = _frames(pasted)[0]
    assert frame.shape[0] == PHOTO[0] and frame.shape[1] > 2 * PHOTO[1]  # photo | driving | result
    assert np.array_equal(frame[:, : PHOTO[1]], inputs["photo"])


def test_a_box_by_hand(inputs, checkpoint, tmp_path):
    out = tmp_path / "hand"
    assert main(["animate", str(inputs["folder"] / "photo.png"), str(inputs["folder"] / "driving.mp4"), "-o", str(out),
                 "--checkpoint", str(checkpoint), "--crop", "100,20,150,150", "--paste-back"]) == 0
    keep = _outside(Box(100, 20, 150, 150), PHOTO)
    assert np.array_equal(_frames(out)[0][keep], inputs["photo"][keep])


@pytest.mark.parametrize(("source", "driving", "options", "message"), [
    ("blank.png", "driving.mp4", ["--crop", "auto"], "no face found in the source photo"),
    ("photo.png", "nobody.mp4", ["--crop", "auto"], "no face found in any of the 3 driving frames"),
    ("photo.png", "driving.mp4", ["--crop", "900,10,50,50"], "is outside the 403x301 image"),
    ("photo.png", "driving.mp4", ["--faces", "all"], "--faces all needs --paste-back"),
])
def test_clear_messages(inputs, checkpoint, tmp_path, capsys, source, driving, options, message):
    out = tmp_path / "out.mp4"
    assert main(["animate", str(inputs["folder"] / source), str(inputs["folder"] / driving), "-o", str(out),
                 "--checkpoint", str(checkpoint), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if message.startswith("no face found in the source"):
        assert "pass --crop X,Y,W,H" in err and "--crop none" in err
    assert not out.exists()
