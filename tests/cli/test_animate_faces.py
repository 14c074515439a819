"""``fomm animate`` with --face N, --detector and --smooth: the chosen face of a group photo is the one
animated, smoothing runs end to end, bad values are one line before any work."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.cli import main
from fomm.crop import CropOptions, detect_faces
from fomm.io import read_image
from tests.cli.test_animate_crop import _frames, _outside, inputs  # noqa: F401 (the shared fixture)

pytestmark = pytest.mark.slow


def test_face_n_animates_that_face_of_a_group_photo(inputs, checkpoint, tmp_path):  # noqa: F811
    out = tmp_path / "frames"
    group = inputs["group"]
    assert main(["animate", str(inputs["folder"] / "group.png"), str(inputs["folder"] / "driving.mp4"), "-o", str(out),
                 "--checkpoint", str(checkpoint), "--crop", "auto", "--paste-back", "--face", "1",
                 "--detector", "yunet", "--smooth", "auto"]) == 0
    small = detect_faces(group, backend="yunet")[1]
    box = CropOptions().crop_box(small, group.shape[1], group.shape[0])
    frames = _frames(out)
    assert len(frames) == 6
    keep = _outside(box, group.shape)
    assert all(np.array_equal(frame[keep], group[keep]) for frame in frames)  # only the second face moved
    assert not np.array_equal(frames[-1][~keep], group[~keep])


def test_bad_face_smooth_and_detector_values_fail_in_one_line(inputs, checkpoint, tmp_path, capsys):  # noqa: F811
    photo, driving = str(inputs["folder"] / "photo.png"), str(inputs["folder"] / "driving.mp4")
    cases = [(["--smooth", "lots"], "--smooth must be off, auto or a strength"),
             (["--face", "1"], "--face picks one of the faces that --crop auto finds"),
             (["--crop", "auto", "--face", "4"], "face 4: the source photo has 1 face")]
    for extra, message in cases:
        out = tmp_path / "out.mp4"
        assert main(["animate", photo, driving, "-o", str(out), "--checkpoint", str(checkpoint), *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
    assert read_image(photo).shape == inputs["photo"].shape
