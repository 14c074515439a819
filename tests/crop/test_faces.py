"""The CNN face detector (libfacedetection, the ``yuface`` wheel) against OpenCV's cascades, on real
photographs placed among clutter by known transforms (the truth comes from the transform), and the
tilted face cropped level."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest

from fomm.crop import CropError, detect_faces
from fomm.crop.detect import check_detector, face_roll
from fomm.crop.image import PasteBack, crop_square
from fomm.crop.track import CropOptions

from .scenes import found, transformed

CANVAS = (360, 480)
detect_module = importlib.import_module("fomm.crop.detect")  # (fomm.crop.detect is also a function)
pytest.importorskip("yuface", reason="the CNN detector's wheel (a dependency on Python <= 3.11, x86-64)")


@pytest.mark.parametrize("transform", [{"roll": 35}, {"turn": 0.8}, {"face_px": 18}, {"light": 0.15}],
                         ids=["tilted", "turned", "small", "dark"])
def test_the_cnn_finds_faces_the_cascades_miss(transform):
    image, center, size = transformed("astronaut", canvas=CANVAS, **transform)
    assert found(detect_faces(image, backend="haar"), center, size) is None  # the cascades miss it
    box = found(detect_faces(image, backend="yunet"), center, size)
    assert box is not None, "the CNN missed it too"
    assert np.hypot(box.center[0] - center[0], box.center[1] - center[1]) < 0.25 * size
    assert box.landmarks is not None and len(box.landmarks) == 10
    assert all(box.contains(x, y) for x, y in zip(box.landmarks[::2], box.landmarks[1::2], strict=True))


def test_auto_picks_the_cnn():
    image, center, size = transformed("astronaut", canvas=CANVAS, roll=35)
    detect_module._local.__dict__.pop("auto", None)
    assert found(detect_faces(image), center, size) is not None


@pytest.mark.parametrize("roll", [-35, 20])
def test_the_tilt_is_measured_and_the_crop_comes_out_level(roll):
    image, center, size = transformed("astronaut", canvas=CANVAS, roll=roll)
    box = found(detect_faces(image, backend="yunet"), center, size)
    tilt = face_roll(image, box, "yunet")
    assert abs(tilt - roll) < 8, tilt  # the photo's own face is level within about 2 degrees
    crop_box = CropOptions().crop_box(replace(box, angle=tilt), CANVAS[1], CANVAS[0])
    assert crop_box.angle == tilt
    level = crop_square(image, crop_box, 160)
    upright = crop_square(image, CropOptions(level=False).crop_box(box, CANVAS[1], CANVAS[0]), 160)
    faces = detect_faces(level, backend="yunet")
    assert faces and abs(face_roll(level, faces[0], "yunet")) < 8  # the eyes are level in the levelled crop
    reference, _, _ = transformed("astronaut", canvas=CANVAS)  # the same face, untilted, framed alike
    ref_box = found(detect_faces(reference, backend="yunet"), *transformed("astronaut", canvas=CANVAS)[1:])
    still = crop_square(reference, CropOptions().crop_box(ref_box, CANVAS[1], CANVAS[0]), 160).astype(float)
    assert np.abs(level - still).mean() < 0.6 * np.abs(upright - still).mean()


def test_a_turned_crop_pastes_back_where_it_was_cut():
    image, center, size = transformed("astronaut", canvas=CANVAS, roll=30)
    box = found(detect_faces(image, backend="yunet"), center, size)
    crop_box = CropOptions().crop_box(replace(box, angle=30.0), CANVAS[1], CANVAS[0])
    paste = PasteBack(image, crop_box)
    out = paste(crop_square(image, crop_box, 256))
    assert np.abs(out.astype(int) - image).mean() < 1.0
    mask = np.ones(image.shape[:2], bool)
    mask[paste.region] = False
    assert np.array_equal(out[mask], image[mask])


def test_detector_names_are_checked_with_the_fix(monkeypatch):
    with pytest.raises(CropError, match="unknown face detector 'cnn'; choose one of auto, yunet, haar, mediapipe"):
        check_detector("cnn")
    monkeypatch.setitem(detect_module._BACKENDS, "mediapipe", (lambda: False, None))
    with pytest.raises(CropError, match=r"not installed: pip install 'mediapipe>=0\.10\.9,<0\.10\.22'"):
        check_detector("mediapipe")
    monkeypatch.setitem(detect_module._BACKENDS, "yunet", (lambda: False, None))
    with pytest.raises(CropError, match="pip install 'yuface"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), backend="yunet")
    assert detect_module.available_backends()[-1] == "haar"
