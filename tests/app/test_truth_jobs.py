"""The app's crops against the scene's truth (issue 30): the photo's crop framed around the face
(or the person) the scene placed there, the animated face pasted back there and nowhere else, and
the job's ``target`` reaching both the photo and the driving clip. The expected framing comes from
the scene's known face centre and size (tests/crop/footage.py), never from the code under test.

Planted bugs these catch (each tried by hand, see docs/testing.md):
- every crop box shifted by 0.3 of its side (``CropOptions.crop_box``) ->
  ``test_the_apps_photo_crop_frames_the_true_face``, ``test_the_app_pastes_inside_the_true_face_box_only``;
- the job's target dropped for the photo (``CropOptions()`` in ``AnimationJob._source_boxes``) ->
  ``test_target_person_frames_the_whole_person_in_the_photo``;
- the job's target dropped for the driving clip (``JobOptions.animation_options``) ->
  ``test_target_person_crops_the_driving_clip_around_the_person_too``.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fomm.app import AnimationJob, JobOptions, ModelCache, checkpoint_choices
from fomm.crop import Box
from fomm.io import read_video
from tests.crop.footage import assert_framed, expected_crop, write_clip
from tests.crop.scenes import place

pytestmark = pytest.mark.slow

CANVAS, SIDE, AT = (360, 640), 256, (300, 50)  # the astronaut's picture (256 px) at (300, 50): face 47.5 px
FRAMES = 6  # driving frames: the same scene, the picture gliding right 2 px a frame
PANEL = 64  # the bundled model's size: the overlay's panels


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    photo, center, size = place(CANVAS, SIDE, *AT)
    Image.fromarray(photo).save(folder / "photo.png")
    frames = [place(CANVAS, SIDE, AT[0] + 2 * i, AT[1])[0] for i in range(FRAMES)]
    driving = [place(CANVAS, SIDE, AT[0] + 2 * i, AT[1])[1:] for i in range(FRAMES)]
    return {"photo": photo, "photo_path": folder / "photo.png", "face": (center, size), "frames": frames,
            "driving_faces": driving, "clip": write_clip(folder / "driving.mp4", frames)}


@pytest.fixture(scope="module")
def models() -> ModelCache:
    return ModelCache(checkpoint_choices([]), device="cpu")


def _job(models, scene, folder, **options) -> AnimationJob:
    folder.mkdir()
    return AnimationJob(models, scene["photo_path"], scene["clip"], JobOptions(crop="auto", **options), folder)


@pytest.fixture(scope="module")
def face_job(models, scene, tmp_path_factory):
    job = _job(models, scene, tmp_path_factory.mktemp("face") / "job", paste_back=True)
    list(job.run())
    return job


@pytest.fixture(scope="module")
def person_job(models, scene, tmp_path_factory):
    job = _job(models, scene, tmp_path_factory.mktemp("person") / "job", target="person")
    list(job.run())
    return job


def _view(image: np.ndarray, box: Box) -> np.ndarray:
    """What a crop at ``box`` looks like at the model's size (the scene's background around it)."""
    pad = SIDE
    x, y, side = round(box.x) + pad, round(box.y) + pad, round(box.w)
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return np.asarray(Image.fromarray(padded[y : y + side, x : x + side]).resize((PANEL, PANEL))).astype(int)


def test_the_apps_photo_crop_frames_the_true_face(face_job, scene):
    assert_framed(face_job.boxes[0], expected_crop([scene["face"]]), "the app's photo crop")


def test_the_app_pastes_inside_the_true_face_box_only(face_job, scene):
    """Outside the photo's true face framing (10% slack a side) the result is the photo, still from frame to
    frame (up to a few H.264 pixels); inside it the face moves."""
    video = read_video(face_job.result.video).astype(float)
    assert video.shape == (FRAMES, *CANVAS, 3)
    moving = video.std(axis=0).mean(axis=-1)  # (H, W): how much each pixel changes over time
    truth = expected_crop([scene["face"]])
    slack = 0.1 * truth.w
    outside = np.ones(CANVAS, bool)
    outside[int(truth.y - slack) : int(truth.bottom + slack), int(truth.x - slack) : int(truth.right + slack)] = False
    inside = ~outside
    assert (moving[outside] > 2).mean() < 1e-3, f"{(moving[outside] > 2).sum()} pixels move outside the true face box"
    assert moving[int(truth.y) : int(truth.bottom), int(truth.x) : int(truth.right)].mean() > 4
    assert moving[inside].mean() > 20 * max(moving[outside].mean(), 0.01)


def test_target_person_frames_the_whole_person_in_the_photo(person_job, scene):
    """The astronaut's upper body fills her picture: a person's crop is about the picture's side and
    centred on it across (a face's framing would be 0.41 of it)."""
    box = person_job.boxes[0]
    assert 0.8 * SIDE <= box.w <= 1.3 * SIDE, box.describe()
    assert abs(box.center[0] - (AT[0] + SIDE / 2)) <= 0.1 * SIDE, box.describe()


def test_target_person_crops_the_driving_clip_around_the_person_too(face_job, person_job, scene):
    """The overlay's middle panel is the driving crop: with target face it looks like the true face
    framing of the driving frame; with target person it does not (it holds the whole body)."""
    truth = expected_crop(scene["driving_faces"])
    face_view = [_view(frame, truth) for frame in scene["frames"]]

    def distance(job) -> float:
        panels = read_video(job.result.overlay)[:, :, PANEL : 2 * PANEL].astype(int)
        return float(np.mean([np.abs(p - v).mean() for p, v in zip(panels, face_view, strict=True)]))

    face, person = distance(face_job), distance(person_job)
    assert face < 45, face  # keypoints are drawn on the panel, and H.264
    assert person > 1.8 * face, (face, person)
