"""The app's job logic without the web: results, errors as the CLI words them, cancel, one model in memory."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import numpy as np
import pytest
from PIL import Image

from fomm.animation import Animator
from fomm.app import DEFAULT_LABEL, AnimationJob, AppError, JobOptions, ModelCache, WorkFolder, checkpoint_choices
from fomm.crop import CropError
from fomm.io import MediaError, VideoReader, read_image, read_video
from tests.crop.scenes import moving_frames, place, write_video
from tests.media import make_frame_folder, make_image, make_video


@pytest.fixture(scope="module")
def models() -> ModelCache:
    return ModelCache(checkpoint_choices([]), device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    return make_image(folder / "face.png", size=(80, 60)), make_video(folder / "clip.mp4", n=6, fps=10, audio=True)


def test_job_writes_the_animators_frames_with_audio_and_an_overlay(models, media, tmp_path):
    source, clip = media
    job = AnimationJob(models, source, clip, JobOptions(), tmp_path)
    steps = list(job.run())
    assert [s.done for s in steps if s.stage == "animate"] == [1, 2, 3, 4, 5, 6]
    result = job.result
    assert result.frames == 6 and result.fps == 10 and result.best_frame is None
    with VideoReader(result.video) as video:
        assert video.fps == 10 and video.has_audio
        frames = np.stack(list(video))
    expected = np.stack([f.image for f in Animator(models.get(DEFAULT_LABEL), read_image(source)).stream(
        read_video(clip))])
    assert frames.shape == expected.shape == (6, 64, 64, 3)
    assert np.abs(frames.astype(int) - expected).mean() < 4  # H.264 at crf 18
    overlay = read_video(result.overlay)
    assert overlay.shape == (6, 64, 3 * 64, 3)


def test_best_frame_is_reported(models, media, tmp_path):
    job = AnimationJob(models, *media, JobOptions(best_frame=True), tmp_path)
    assert [s.stage for s in job.run()][:2] == ["model", "best frame"]
    assert 0 <= job.result.best_frame < 6


def test_a_text_file_as_video_fails_before_any_work_naming_the_upload(models, media, tmp_path):
    text = tmp_path / "upload-dir" / "notes.mp4"
    text.parent.mkdir()
    text.write_text("this is not a video\n")
    with pytest.raises(MediaError) as error:
        AnimationJob(models, media[0], text, JobOptions(), tmp_path)
    message = str(error.value)
    assert message.startswith("cannot open notes.mp4 as a video") and str(text.parent) not in message


@pytest.mark.parametrize("options, words", [
    (JobOptions(mode="absolute", adapt_scale=True), "adapt scale"),
    (JobOptions(mode="absolute", best_frame=True), "best frame"),
    (JobOptions(mode="sideways"), "mode must be one of relative, absolute"),
    (JobOptions(checkpoint="vox.pth"), "unknown checkpoint 'vox.pth'"),
])
def test_contradicting_options_are_refused_with_the_fix(models, media, tmp_path, options, words):
    with pytest.raises(AppError, match=words):
        AnimationJob(models, *media, options, tmp_path)


def test_missing_inputs_say_what_to_upload(models, media, tmp_path):
    with pytest.raises(AppError, match="no source image"):
        AnimationJob(models, None, media[1], JobOptions(), tmp_path)
    with pytest.raises(AppError, match="no driving video"):
        AnimationJob(models, media[0], None, JobOptions(), tmp_path)


def test_a_cancelled_job_leaves_no_output(models, media, tmp_path):
    job = AnimationJob(models, *media, JobOptions(), tmp_path)
    steps = job.run()
    for step in steps:
        if step.done == 2:
            break
    steps.close()  # what gradio does to a cancelled event's generator
    assert job.result is None
    assert list(tmp_path.iterdir()) == []


def test_one_model_in_memory(media):
    cache = ModelCache({"a": "default", "b": "default"}, device="cpu")
    first = weakref.ref(cache.get("a"))
    assert cache.get("a") is first()
    second = cache.get("b")
    gc.collect()
    assert first() is None and cache.loaded == "b" and second is not None


def test_checkpoints_are_checked_at_startup_and_labelled_by_name(tmp_path):
    with pytest.raises(AppError, match="does not exist"):
        checkpoint_choices([tmp_path / "missing.pth.tar"])
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "vox.pth.tar").write_bytes(b"")
    labels = list(checkpoint_choices([tmp_path / "x" / "vox.pth.tar", tmp_path / "y" / "vox.pth.tar"]))
    assert labels == [DEFAULT_LABEL, "vox.pth.tar", "vox.pth.tar (2)"]


def test_work_folder_keeps_the_latest_jobs_and_is_removed_on_cleanup(tmp_path):
    work = WorkFolder(tmp_path / "work", keep=2)
    jobs = [work.new_job() for _ in range(4)]
    assert sorted(p.name for p in work.root.glob("job-*")) == sorted(p.name for p in jobs[-2:])
    work.cleanup()
    assert not work.root.exists()


def test_a_folder_is_refused_as_an_upload(models, media, tmp_path):
    """A folder inside gradio's upload cache can be named by a request; fomm animate reads a frame folder,
    the app takes uploaded files only."""
    frames = make_frame_folder(tmp_path / "cache" / "0123abcd", n=3, size=(64, 64))
    with pytest.raises(AppError, match="the driving video 0123abcd is a folder; upload a video file"):
        AnimationJob(models, media[0], frames, JobOptions(), tmp_path)
    with pytest.raises(AppError, match="the source image 0123abcd is a folder; upload an image file"):
        AnimationJob(models, frames, media[1], JobOptions(), tmp_path)


KILLED_SERVER = """
import os, signal, sys
from fomm.app import WorkFolder
work = WorkFolder(sys.argv[1])
(work.new_job() / "upload.png").write_bytes(b"a user's photo")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_work_folders_of_killed_servers_are_removed_at_the_next_start(tmp_path):
    killed = subprocess.run([sys.executable, "-c", KILLED_SERVER, str(tmp_path / "fomm-app-killed")], timeout=120)
    assert killed.returncode == -9 and (tmp_path / "fomm-app-killed").is_dir()
    live = WorkFolder(tmp_path / "fomm-app-live")  # a running server's: locked
    (live.new_job() / "upload.png").write_bytes(b"in use")
    (tmp_path / "fomm-app-other").mkdir()  # not made by a WorkFolder (no lock file): never touched
    (tmp_path / "fomm-app-link").symlink_to(tmp_path / "fomm-app-killed")
    assert WorkFolder.remove_stale(tmp_path) == [tmp_path / "fomm-app-killed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fomm-app-link", "fomm-app-live", "fomm-app-other"]
    assert list(live.root.glob("job-*/upload.png"))
    live.cleanup()
    assert WorkFolder.remove_stale(tmp_path) == []  # cleaned up, not stale


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """A photo with the astronaut's face at a known place on a plain canvas, and a clip of her gliding."""
    folder = tmp_path_factory.mktemp("footage")
    photo, _, _ = place((300, 400), 256, 90, 30)
    Image.fromarray(photo).save(folder / "photo.png")
    frames, _, _ = moving_frames(n=8, jump=99, blank=None)
    return folder / "photo.png", write_video(folder / "clip.mp4", frames, fps=10)


def test_crop_and_paste_back_animate_the_face_inside_the_full_photo(models, footage, tmp_path):
    photo, clip = footage
    job = AnimationJob(models, photo, clip, JobOptions(crop="auto", paste_back=True), tmp_path)
    box = job.boxes[0]  # found at construction, before any model work
    stages = [s.stage for s in job.run()]
    assert stages[:2] == ["model", "tracking"] and stages.count("animate") == 8
    frames = read_video(job.result.video)
    original = read_image(photo).astype(int)
    assert frames.shape == (8, 300, 400, 3)  # the photo's size, not the model's 64 px
    outside = np.ones((300, 400), bool)
    outside[max(int(box.y), 0) : int(box.bottom), max(int(box.x), 0) : int(box.right)] = False
    error = np.abs(frames.astype(int) - original).mean(axis=-1)  # (8, H, W)
    assert error[:, outside].mean() < 2  # the photo itself, up to H.264
    assert error[:, ~outside].mean() > 4 * error[:, outside].mean() + 1  # the animated (64 px) face
    assert read_video(job.result.overlay).shape == (8, 64, 3 * 64, 3)  # the crops: source | driving | result


def test_crop_without_paste_back_gives_the_animated_crop(models, footage, tmp_path):
    job = AnimationJob(models, *footage, JobOptions(crop="auto", best_frame=True), tmp_path)
    stages = [s.stage for s in job.run()]
    assert stages[:3] == ["model", "tracking", "best frame"] and 0 <= job.result.best_frame < 8
    assert read_video(job.result.video).shape == (8, 64, 64, 3)


def test_crop_auto_on_a_photo_without_a_face_fails_before_any_work_with_the_fix(models, media, tmp_path):
    source, clip = media  # a synthetic pattern: no face
    with pytest.raises(CropError) as error:
        AnimationJob(models, source, clip, JobOptions(crop="auto"), tmp_path)
    assert "no face found in the source photo" in str(error.value) and "choose crop: none" in str(error.value)
    with pytest.raises(AppError, match="crop must be one of auto, none"):
        AnimationJob(models, source, clip, JobOptions(crop="center"), tmp_path)
