"""``fomm animate SOURCE_VIDEO DRIVING``: each output frame is the driving frame animated onto the source
frame of the same time, relative to the driving's first frame, on that source frame's own keypoints;
as long as the shorter clip (--loop: the driving video); the sound of the side --audio names; crop and
paste-back per source frame."""

from __future__ import annotations

import av
import numpy as np
import pytest

from fomm.animation import Animator
from fomm.cli import main
from fomm.crop import Box
from fomm.crop.animate import Animation, DrivingCrops
from fomm.crop.video_source import SourceVideo, source_frames
from fomm.io import read_image
from tests.animation.helpers import random_frames
from tests.crop.scenes import moving_frames, write_video

pytestmark = pytest.mark.slow

DRIVING_TONE, SOURCE_TONE = 440.0, 1000.0


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("source-video")
    frames, _, _ = moving_frames(8, jump=99, blank=None)
    source = write_video(folder / "source.mp4", frames[:5], fps=10, tone=SOURCE_TONE)  # 5 frames, 0.5 s
    driving = write_video(folder / "driving.mp4", frames[::-1], fps=10, tone=DRIVING_TONE)  # 8 frames, 0.8 s
    return folder, source, driving


def _decode(path) -> tuple[int, float | None, float | None]:
    """(video frames, seconds of sound, the sound's loudest frequency in Hz) of a written file."""
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return frames, None, None
        rate = container.streams.audio[0].rate
        wave = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return frames, len(wave) / rate, float(np.fft.rfftfreq(len(wave), 1 / rate)[np.argmax(spectrum)])


def test_each_source_frame_is_animated_from_its_own_pose(model):
    sources = random_frames(4, (64, 64), seed=1)
    driving = random_frames(6, (64, 64), seed=2)
    plan = SourceVideo(Animator(model, sources[0], batch_size=1), None, None)
    got = list(plan.stream(enumerate(sources), driving))
    assert len(got) == 4  # the shorter clip
    first = list(Animator(model, sources[0], batch_size=4).stream(driving))
    for i, source in enumerate(sources):  # the still-image animation of source frame i, at frame i
        expected = list(Animator(model, source, batch_size=4).stream(driving))[i]
        assert np.abs(got[i].image.astype(int) - expected.image).max() <= 1
        # the motion (relative to the driving's first frame) carried onto source frame i's own keypoints
        # (a random generator draws them all alike: the keypoints tell the sources apart)
        assert np.abs(got[i].kp_used - expected.kp_used).max() < 1e-5
        assert i == 0 or np.abs(got[i].kp_used - first[i].kp_used).max() > 0.1


def test_smoothing_smooths_the_driving_motion_as_for_a_still_source(model):
    source, driving = random_frames(1, (64, 64), seed=4)[0], random_frames(12, (64, 64), seed=5)
    still = Animation.plain(Animator(model, source, batch_size=4))
    still.smooth_driving(driving, 2.0)
    expected = list(still.stream(driving))
    plan = SourceVideo(Animator(model, source, batch_size=1), None, None)
    plan.smooth_driving(driving, 2.0)
    got = list(plan.stream(((0, source) for _ in driving), driving))  # a source video that never moves
    raw = list(SourceVideo(Animator(model, source, batch_size=1), None, None).stream(
        ((0, source) for _ in driving), driving))
    assert len(got) == len(expected) == 12
    for frame, want in zip(got, expected, strict=True):
        assert np.abs(frame.kp_used - want.kp_used).max() < 1e-5
    assert max(np.abs(f.kp_used - r.kp_used).max() for f, r in zip(got, raw, strict=True)) > 1e-3


def test_a_looped_source_frame_is_cropped_and_pasted_back_with_its_own_box(model):
    left, right = Box(0, 0, 40, 40), Box(56, 56, 40, 40)
    crops = DrivingCrops([left, right], [(0, 1 << 62, 0)], [True, True])  # source frame 0: left, frame 1: right
    sources = [np.full((96, 96, 3), level, np.uint8) for level in (60, 200)]
    plan = SourceVideo(Animator(model, sources[0], batch_size=1), crops, None, paste_back=True)
    looped = [(k % 2, sources[k % 2]) for k in range(4)]  # what source_frames gives for a loop of 2 frames
    for k, frame in enumerate(plan.stream(looped, random_frames(4, (64, 64), seed=3))):
        box, source = (left, right)[k % 2], sources[k % 2]
        ys, xs = np.nonzero(np.any(frame.image != source, axis=2))
        assert len(xs) and xs.min() >= box.x and xs.max() < box.x + box.w, k  # inside that frame's own box
        assert ys.min() >= box.y and ys.max() < box.y + box.h, k


def test_the_source_frame_of_each_output_time_and_the_loop(tmp_path):
    colours = [np.full((32, 32, 3), 40 * (k + 1), np.uint8) for k in range(4)]
    path = write_video(tmp_path / "four.mp4", colours, fps=5, audio=False)

    def indices(step, loop=False, n=12):
        got = [(k, int(frame.mean().round())) for k, frame in (pair for pair, _ in zip(source_frames(path, step, loop),
                                                                                      range(n), strict=False))]
        for k, level in got:  # the index names the frame that comes with it
            assert abs(level - 40 * (k + 1)) <= 3
        return [k for k, _ in got]

    assert indices(1.0) == [0, 1, 2, 3]  # same frame rate: frame for frame, then the end
    assert indices(0.5) == [0, 0, 1, 1, 2, 2, 3, 3]  # a 5 fps source under a 10 fps output: each frame twice
    assert indices(2.0) == [0, 2]  # a 20 fps source under a 10 fps output: every other frame
    assert indices(1.0, loop=True, n=10) == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert indices(0.5, loop=True, n=10) == [0, 0, 1, 1, 2, 2, 3, 3, 0, 0]


def test_length_loop_and_audio(clips, checkpoint, tmp_path):
    folder, source, driving = clips
    runs = {"default": [source, driving], "source": [source, driving, "--audio", "source"],
            "none": [source, driving, "--no-audio", "--smooth", "auto"], "loop": [source, driving, "--loop"],
            "loop-source": [source, driving, "--loop", "--audio", "source"],
            "longer-source": [driving, source]}  # the 8-frame clip as the source of the 5-frame one
    results = {}
    for name, inputs in runs.items():
        out = tmp_path / f"{name}.mp4"
        assert main(["animate", *map(str, inputs), "-o", str(out), "--checkpoint", str(checkpoint)]) == 0
        results[name] = _decode(out)

    def check(name, frames, seconds, tone):
        got_frames, got_seconds, got_tone = results[name]
        assert got_frames == frames, name
        assert abs(got_seconds - seconds) < 0.07, (name, got_seconds)  # AAC frames are 64 ms here
        assert abs(got_tone - tone) < 20, (name, got_tone)

    check("default", 5, 0.5, DRIVING_TONE)  # the shorter clip, the driving's sound cut at its end
    check("source", 5, 0.5, SOURCE_TONE)  # the source's own sound
    assert results["none"] == (5, None, None)
    check("loop", 8, 0.8, DRIVING_TONE)  # the source started again: as long as the driving video
    check("loop-source", 8, 0.5, SOURCE_TONE)  # the source's sound plays once
    check("longer-source", 5, 0.5, SOURCE_TONE)  # the driving (here the 5-frame clip) is the shorter


def test_paste_back_puts_each_result_into_its_own_source_frame(clips, checkpoint, tmp_path):
    folder, _, driving = clips
    frames, _, _ = moving_frames(6, jump=99, blank=None)  # the astronaut gliding right, gone from frame 4 on
    for frame in frames[4:]:
        frame[:] = 100
    source = write_video(tmp_path / "source.mp4", frames, fps=10)
    out = tmp_path / "frames"
    assert main(["animate", str(source), str(driving), "-o", str(out), "--checkpoint", str(checkpoint),
                 "--crop", "auto", "--paste-back"]) == 0
    results = [read_image(p) for p in sorted(out.glob("*.png"))]
    with av.open(str(source)) as container:
        originals = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(results) == 6 and results[0].shape == originals[0].shape
    for i in (4, 5):  # no face in that source frame: it is kept as it is
        assert np.array_equal(results[i], originals[i])
    for i in range(4):
        result, original = results[i], originals[i]
        changed = np.any(result != original, axis=2)
        ys, xs = np.nonzero(changed)
        assert 0.02 < changed.mean() < 0.4, i  # the face's crop changed, not the frame
        assert xs.max() - xs.min() < 0.6 * original.shape[1] and ys.max() - ys.min() < 0.8 * original.shape[0]
        outside = np.ones_like(changed)
        outside[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = False
        other = originals[i - 1 if i else 1]  # a neighbour: the astronaut's shoulders 4 px away
        assert np.abs(result[outside].astype(int) - other[outside]).max() > 40, i  # pasted into its own frame


def test_what_a_source_video_cannot_take_is_refused_in_one_line(clips, checkpoint, tmp_path, capsys):
    folder, source, driving = clips
    still, silent = tmp_path / "still.png", tmp_path / "silent.mp4"
    from PIL import Image

    Image.fromarray(random_frames(1, (64, 64))[0]).save(still)
    write_video(silent, random_frames(3, (64, 64)), audio=False)
    cases = [([source, driving, "--best-frame", "auto"],
              "--best-frame auto is for a still source; with a source video drop --best-frame"),
             ([source, driving, "--keypoints"], "--keypoints is for a still source; with a source video drop"),
             ([source, driving, "--smooth", "much"], "--smooth must be off, auto or a strength"),
             ([still, driving, "--audio", "source"], "--audio source is for a source video and the source is a still "
                                                     "image; give a video as the source or drop --audio"),
             ([still, driving, "--loop"], "--loop is for a source video"),
             ([silent, driving, "--audio", "source"], f"--audio: {silent} has no audio track; drop --audio"),
             ([source, still], f"{still} is a still image and {source} a video: were they swapped?"),
             ([source, driving, "--audio", "both"], "--audio: invalid choice: 'both' (choose from 'driving', "
                                                    "'source', 'none')")]
    for argv, message in cases:
        out = tmp_path / "o.mp4"
        try:
            code = main(["animate", *map(str, argv), "-o", str(out), "--checkpoint", str(checkpoint)])
        except SystemExit as exit_:  # argparse's own refusals
            code = exit_.code
        assert code == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists() and list(tmp_path.glob("o*")) == []
