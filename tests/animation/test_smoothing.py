"""The driving motion smoothed over time: for files, one keypoints-only pass and a zero-phase filter
(the keypoints the frames are generated with are the smoothed ones); live, a causal One Euro filter
per frame. Checked against the smoothers applied by hand to the keypoints detected frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.animation import Animator
from fomm.animation.options import CLI_WORDS, AnimationOptions, OptionsError
from fomm.crop.animate import Animation
from fomm.crop.smooth import causal, jitter, zero_phase
from fomm.live import LiveAnimator

from .helpers import random_frames


@pytest.fixture(scope="module")
def clip():
    """One picture with fresh noise on every frame: the keypoints shake around one pose."""
    base = random_frames(1, (64, 64), seed=3)[0].astype(int)
    rng = np.random.default_rng(0)
    return [np.clip(base + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8) for _ in range(16)]


@pytest.fixture(scope="module")
def source():
    return random_frames(1, (64, 64), seed=5)[0]


def raw_keypoints(model, source, frames) -> np.ndarray:
    animator = Animator(model, source, batch_size=4)
    return np.stack([f.kp_driving for f in animator.stream(frames)])


def test_files_are_generated_from_the_zero_phase_smoothed_motion(model, source, clip):
    raw = raw_keypoints(model, source, clip)
    animation = Animation.plain(Animator(model, source, batch_size=4))
    animation.smooth_driving(clip, 2.0)
    frames = list(animation.stream(clip))
    used = np.stack([f.kp_driving for f in frames])
    np.testing.assert_allclose(used, zero_phase(raw, 2.0), atol=1e-5)
    assert jitter(used, 1.0) <= 0.5 * jitter(raw, 1.0)
    plain = [f.image for f in Animation.plain(Animator(model, source, batch_size=4)).stream(clip)]
    assert any(not np.array_equal(a.image, b) for a, b in zip(frames, plain, strict=True))


def test_live_frames_are_generated_from_the_one_euro_filtered_motion(model, source, clip):
    raw = raw_keypoints(model, source, clip)
    steady, plain = LiveAnimator(model, [source], smooth="auto"), LiveAnimator(model, [source])
    got = np.stack([steady.animate(frame)[1].kp_driving for frame in clip])
    np.testing.assert_allclose(got, causal(raw, 2.0), atol=1e-5)
    assert jitter(got, 1.0) <= 0.5 * jitter(raw, 1.0)
    np.testing.assert_allclose(np.stack([plain.animate(frame)[1].kp_driving for frame in clip]), raw, atol=1e-6)


@pytest.mark.parametrize(("options", "message"), [
    ({"smooth": "lots"}, "--smooth must be off, auto or a strength in frames > 0 (e.g. 2), got 'lots'"),
    ({"smooth": -1}, "--smooth must be off, auto or a strength"),
    ({"detector": "cnn"}, "--detector must be one of auto, yunet, haar, mediapipe"),
    ({"face": 1}, "--face picks one of the faces that --crop auto finds"),
    ({"face": -1, "crop": "auto"}, "--face must be a face's rank by size"),
])
def test_bad_values_are_refused_in_the_command_lines_words(options, message):
    with pytest.raises(OptionsError) as caught:
        AnimationOptions(**options)
    assert caught.value.worded(CLI_WORDS).startswith(message)


def test_the_detector_lists_agree():
    from fomm.animation.options import DETECTORS
    from fomm.crop.detect import DETECTORS as CROP_DETECTORS

    assert DETECTORS == CROP_DETECTORS
