"""``fomm crop`` on a group photo: --list shows the faces largest first, --face N writes that one;
--detector and --smooth values are checked in one line; a video's cuts say why."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fomm.cli import main
from fomm.crop import crop_square, detect_faces
from fomm.crop.track import CropOptions
from fomm.io import read_image
from tests.crop.scenes import astronaut, moving_frames, place, write_video


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """Two astronauts: the larger (256 px photo) on the right, the smaller (160 px) on the left."""
    image, _, _ = place((300, 520), 256, 250, 30)
    image[80:240, 20:180] = astronaut(160)
    path = tmp_path_factory.mktemp("group") / "group.png"
    Image.fromarray(image).save(path)
    return path, image


def test_list_shows_each_face_largest_first_and_writes_nothing(group, tmp_path, capsys, monkeypatch):
    path, image = group
    monkeypatch.chdir(tmp_path)
    assert main(["crop", str(path), "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["face 0", "face 1"]
    sizes = [float(line.split("(")[1].split(" px")[0]) for line in lines]
    assert sizes[0] > sizes[1]
    assert list(tmp_path.iterdir()) == []


def test_face_n_writes_that_face(group, tmp_path):
    path, image = group
    out = tmp_path / "small.png"
    assert main(["crop", str(path), "--face", "1", "-o", str(out)]) == 0
    small = detect_faces(image)[1]
    assert small.center[0] < 200  # the smaller face is the one on the left
    expected = crop_square(image, CropOptions().crop_box(small, image.shape[1], image.shape[0]), 256)
    assert np.array_equal(read_image(out), expected)


def test_bad_face_detector_and_smooth_values_are_one_line(group, tmp_path, capsys):
    path, _ = group
    cases = [(["--face", "2"], "--face 2: "), (["--face", "0", "--all"], "--all and --face N"),
             (["--smooth", "much"], "--smooth must be off, auto or a strength"),
             (["--detector", "cnn"], "invalid choice: 'cnn'")]
    for extra, message in cases:
        try:
            code = main(["crop", str(path), "-o", str(tmp_path / "x.png"), *extra])
        except SystemExit as exit_:  # argparse's own refusals
            code = exit_.code
        assert code == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "x.png").exists()


def test_a_videos_cuts_are_explained(tmp_path, capsys):
    frames, _, _ = moving_frames(12, jump=6, blank=None)
    clip = write_video(tmp_path / "clip.mp4", frames, audio=False)
    assert main(["crop", str(clip), "-o", str(tmp_path / "f.mp4"), "--min-frames", "2", "--size", "64"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("frames")]
    assert len(lines) == 2
    assert lines[0].endswith("cut: the subject jumped (a shot change or a move too fast to follow)")
    assert lines[1].endswith("cut: the video ends")
