"""The streaming animator gives exactly the frames of the original per-frame computation."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from fomm.animation import AnimationError, Animator, animate, pose_distance
from fomm.io import prepare_frame, to_tensor, to_uint8

from .helpers import SIZE, random_frames, reference

ATOL = 1e-5  # float32: batching changes only the summation order



@pytest.fixture(scope="module")
def source() -> np.ndarray:
    return random_frames(1, shape=(80, 60), seed=7)[0]  # non-square, portrait


@pytest.fixture(scope="module")
def driving() -> list[np.ndarray]:
    return random_frames(6, shape=(48, 64), seed=1)


def _close(actual, expected) -> None:
    torch.testing.assert_close(torch.stack(list(actual)), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize(("mode", "adapt_scale"), [("relative", False), ("relative", True), ("absolute", False)])
def test_frames_equal_the_per_frame_reference(model, source, driving, mode, adapt_scale):
    expected = reference(model, source, driving, mode, adapt_scale)
    _close(animate(model, source, driving, mode=mode, adapt_scale=adapt_scale, batch_size=4, output="tensor"),
           expected)
    if mode == "relative" and not adapt_scale:  # uint8 output: the same frames, rounded
        frames = np.stack(list(animate(model, source, driving, batch_size=4)))
        assert frames.shape == (len(driving), SIZE, SIZE, 3) and frames.dtype == np.uint8
        assert np.abs(frames.astype(int) - to_uint8(expected).astype(int)).max() <= 1


def test_batch_size_does_not_change_frames(model, source, driving):
    one = torch.stack(list(animate(model, source, driving, batch_size=1, output="tensor")))
    many = torch.stack(list(animate(model, source, driving, batch_size=4, output="tensor")))
    torch.testing.assert_close(one, many, atol=ATOL, rtol=0)


def test_best_frame_index(model, source, driving):
    _close(animate(model, source, driving, best_frame=4, batch_size=4, output="tensor"),
           reference(model, source, driving, initial=4))
    with pytest.raises(AnimationError, match="past the end"):
        list(animate(model, source, driving, best_frame=len(driving)))


@pytest.mark.parametrize("best", [0, 2, 5])
def test_best_frame_auto_matches_the_original_forward_backward_animation(model, source, driving, best):
    """'auto' picks the frame whose pose matches the source's: in a clip built with the source itself at
    frame ``best`` (a pose distance of exactly 0, whatever the keypoints), that frame. Generating in order
    from its keypoints gives the frames the original got by animating forward and backward from it and
    reversing the backward part."""
    driving = [*driving[:best], source, *driving[best + 1:]]
    assert Animator(model, source, batch_size=4).find_best_frame(driving).index == best
    forward = reference(model, source, driving[best:])
    backward = reference(model, source, driving[: best + 1][::-1])
    original = torch.cat([backward.flip(0), forward[1:]])
    _close(animate(model, source, driving, best_frame="auto", batch_size=4, output="tensor"), original)


def test_pose_distance_ignores_position_and_scale():
    pose = torch.rand(1, 10, 2) * 2 - 1
    moved = pose * 0.5 + torch.tensor([0.3, -0.2])
    other = torch.rand(1, 10, 2) * 2 - 1
    distances = pose_distance(pose, torch.cat([other, moved]))
    assert distances[1] < 1e-10 < distances[0]


def test_source_and_frames_as_tensors(model, source, driving):
    src = to_tensor(prepare_frame(source, SIZE))
    drv = [to_tensor(prepare_frame(f, SIZE))[0] for f in driving]
    _close(animate(model, src, drv, output="tensor"), reference(model, source, driving))
    with pytest.raises(AnimationError, match="tensor frame must be float"):
        Animator(model, torch.rand(3, 32, 32))


def test_streams_lazily_with_bounded_read_ahead(model, source):
    """Frames are pulled as needed: when the first result comes out, only a few batches were read."""
    pulled = []

    def frames():
        for i, frame in enumerate(random_frames(60, seed=3)):
            pulled.append(i)
            yield frame

    stream = Animator(model, source, batch_size=4).stream(frames())
    next(stream)
    assert len(pulled) <= 4 * 5  # the batch in the networks, up to 2 queued, one being prepared (+ slack)
    stream.close()  # stops the decoding thread
    assert len(pulled) < 60
    assert not [t for t in threading.enumerate() if t.name == "fomm-decode"]


def test_yielded_tensors_are_ordinary(model, source, driving):
    frame = next(animate(model, source, driving, output="tensor"))
    assert not torch.is_inference(frame)
    assert not torch.is_inference_mode_enabled()  # the consumer does not run in inference mode


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "absolute", "adapt_scale": True}, "adapt_scale"),
    ({"mode": "absolute", "best_frame": "auto"}, "best_frame"),
    ({"mode": "sideways"}, "mode must be"),
    ({"best_frame": 1.5}, "best_frame must be"),
    ({"batch_size": 0}, "batch_size"),
    ({"output": "float"}, "output must be"),
    ({"size": 48}, "frame size 48"),
])
def test_bad_options(model, source, driving, kwargs, message):
    with pytest.raises(ValueError, match=message):
        animate(model, source, driving, **kwargs)  # checked when called, before any frame is read


def test_best_frame_needs_to_read_twice(model, source, driving):
    with pytest.raises(AnimationError, match="twice"):
        animate(model, source, iter(driving), best_frame="auto")
    # a callable that returns a fresh iterator is fine
    frames = list(animate(model, source, lambda: iter(driving), best_frame="auto", batch_size=4))
    assert len(frames) == len(driving)


def test_no_driving_frames(model, source):
    with pytest.raises(AnimationError, match="no frames"):
        list(animate(model, source, []))
    with pytest.raises(AnimationError, match="no frames"):
        list(animate(model, source, [], best_frame="auto"))
