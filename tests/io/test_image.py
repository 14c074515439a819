"""Still images, frame preparation, tensor conversion and keypoint drawing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fomm.io import (
    MediaError,
    draw_keypoints,
    is_image_path,
    is_video_path,
    keypoint_colors,
    prepare_frame,
    read_image,
    to_tensor,
    to_uint8,
)
from tests.media import make_image, make_video, pattern_frame, red_quadrant, truncate

# --- read_image ---------------------------------------------------------------------------------------


def test_png_reads_back_exactly(tmp_path):
    image = read_image(make_image(tmp_path / "a.png", size=(64, 48)))
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
    np.testing.assert_array_equal(image, pattern_frame(0, (64, 48)))


@pytest.mark.parametrize("name", ["a.jpg", "a.JPEG", "a.webp", "a.bmp"])
def test_other_formats_read_as_rgb(tmp_path, name):
    image = read_image(make_image(tmp_path / name))
    assert image.shape == (48, 64, 3)
    assert np.abs(image.astype(int) - pattern_frame(0)).mean() < 4  # jpeg/webp are lossy


def test_rgba_is_composited_on_white(tmp_path):
    image = read_image(make_image(tmp_path / "a.png", mode="RGBA"))
    assert image.shape == (48, 64, 3)
    assert (image[:, 32:] == 255).all()  # the transparent right half
    np.testing.assert_array_equal(image[:, :32], pattern_frame(0)[:, :32])


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_grayscale_becomes_three_equal_channels(tmp_path, mode):
    image = read_image(make_image(tmp_path / "a.png", mode=mode))
    expected = np.asarray(Image.fromarray(pattern_frame(0)).convert("L"))
    assert image.shape == (48, 64, 3)
    for channel in range(3):  # 16-bit values are scaled to 8 bits, not clipped at 255
        np.testing.assert_array_equal(image[..., channel], expected)


def test_palette_image_becomes_rgb(tmp_path):
    image = read_image(make_image(tmp_path / "a.png", mode="P"))
    assert image.shape == (48, 64, 3)
    np.testing.assert_array_equal(image, pattern_frame(0))


def test_exif_orientation_is_applied(tmp_path):
    # Orientation 6: stored sideways, displayed after a 90 degree clockwise turn.
    image = read_image(make_image(tmp_path / "a.jpg", size=(64, 48), exif_orientation=6))
    assert image.shape == (64, 48, 3)
    assert red_quadrant(image) == "top-right"


def test_read_image_errors(tmp_path):
    with pytest.raises(MediaError, match=r"missing\.png not found; check the path"):
        read_image(tmp_path / "missing.png")
    clip = make_video(tmp_path / "clip.mp4", n=2)
    with pytest.raises(MediaError, match=r"clip\.mp4 is a video; give a still image as the source"):
        read_image(clip)
    with pytest.raises(MediaError, match=r"is a folder; give a still image"):
        read_image(tmp_path)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(MediaError, match=r"cannot read .*garbage\.png as an image"):
        read_image(garbage)
    cut = truncate(make_image(tmp_path / "cut.png", size=(64, 64)), keep=0.5)
    with pytest.raises(MediaError, match=r"cannot read .*cut\.png as an image .*complete"):
        read_image(cut)


def test_path_kinds_by_extension():
    assert is_image_path("a/b.PNG") and is_image_path("x.jpeg") and not is_image_path("x.mp4")
    assert is_video_path("x.MP4") and is_video_path("x.gif") and is_video_path("x.webm")
    assert not is_video_path("x.png") and not is_video_path("frames")


# --- prepare_frame ------------------------------------------------------------------------------------


def _stripes(height: int, width: int) -> np.ndarray:
    """Blue first quarter, green middle half, red last quarter, along the longer side."""
    frame = np.zeros((height, width, 3), np.uint8)
    long_side = max(height, width)
    bands = [(0, long_side // 4, 2), (long_side // 4, 3 * long_side // 4, 1), (3 * long_side // 4, long_side, 0)]
    for start, stop, channel in bands:
        if width >= height:
            frame[:, start:stop, channel] = 255
        else:
            frame[start:stop, :, channel] = 255
    return frame


@pytest.mark.parametrize("shape", [(40, 80), (80, 40)])
def test_crop_keeps_the_centered_square(shape):
    frame = _stripes(*shape)
    square = prepare_frame(frame, 40, fit="crop")  # no resize: exactly the central 40x40
    assert square.shape == (40, 40, 3)
    assert (square == (0, 255, 0)).all()
    small = prepare_frame(frame, 16, fit="crop")
    assert small.shape == (16, 16, 3)
    assert np.abs(small.astype(int) - (0, 255, 0)).max() <= 2


def test_pad_keeps_everything_on_black():
    frame = _stripes(40, 80)
    square = prepare_frame(frame, 40, fit="pad")  # 80x80 with bands of black above and below, then halved
    assert square.shape == (40, 40, 3)
    assert (square[:7] == 0).all() and (square[33:] == 0).all()  # a few rows of Lanczos ringing between
    assert square[:9].max() < 20 and square[31:].max() < 20
    middle = square[11:29]
    assert (middle[:, :9, 2] > 240).all() and (middle[:, 11:29, 1] > 240).all() and (middle[:, 31:, 0] > 240).all()


def test_prepare_frame_does_not_stretch():
    # A disk in a wide frame stays a disk: its height and width match after fitting to a square.
    height, width = 60, 120
    rows, cols = np.ogrid[:height, :width]
    frame = np.zeros((height, width, 3), np.uint8)
    frame[(rows - 30) ** 2 + (cols - 60) ** 2 <= 20**2] = 255
    for fit in ("crop", "pad"):
        disk = prepare_frame(frame, 64, fit=fit)[..., 0] > 127
        ys, xs = np.nonzero(disk)
        assert abs((ys.max() - ys.min()) - (xs.max() - xs.min())) <= 1, fit


def test_prepare_frame_rejects_bad_arguments():
    with pytest.raises(ValueError, match="fit must be one of crop, pad"):
        prepare_frame(np.zeros((8, 8, 3), np.uint8), 4, fit="stretch")
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\) RGB frame"):
        prepare_frame(np.zeros((8, 8, 4), np.uint8), 4)


def test_prepare_frame_returns_a_new_array():
    frame = np.zeros((8, 8, 3), np.uint8)
    prepare_frame(frame, 8)[:] = 1
    assert (frame == 0).all()


# --- tensors ------------------------------------------------------------------------------------------


def test_to_tensor_layout_and_range():
    frames = np.stack([pattern_frame(i, (6, 4)) for i in range(2)])  # (2, 4, 6, 3)
    tensor = to_tensor(frames)
    assert tensor.shape == (2, 3, 4, 6) and tensor.dtype == torch.float32
    torch.testing.assert_close(tensor[1, :, 3, 5], torch.full((3,), (16 + 8) / 255))
    torch.testing.assert_close(tensor[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert to_tensor(frames[0]).shape == (1, 3, 4, 6)


def test_to_uint8_inverts_to_tensor_and_clamps():
    frames = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(to_tensor(frames)), frames)
    out = to_uint8(torch.tensor([-0.5, 0.6 / 255, 0.4 / 255, 1.5]).view(1, 1, 1, 4).expand(1, 3, 1, 4))
    np.testing.assert_array_equal(out[0, 0, :, 0], [0, 1, 0, 255])
    assert to_uint8(torch.zeros(3, 2, 5)).shape == (2, 5, 3)


def test_tensor_conversions_reject_wrong_inputs():
    with pytest.raises(ValueError, match="uint8 numpy array"):
        to_tensor(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        to_tensor(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        to_uint8(torch.zeros(1, 4, 2, 2))


# --- draw_keypoints -----------------------------------------------------------------------------------


def test_keypoint_colors_follow_gist_rainbow():
    # matplotlib: gist_rainbow(0) = (1, 0, 0.16), gist_rainbow(0.5) = (0, 1, 0.548)
    np.testing.assert_array_equal(keypoint_colors(2), [[255, 0, 41], [0, 255, 140]])
    assert len({tuple(c) for c in keypoint_colors(10)}) == 10


def test_draw_keypoints_paints_dots_in_a_copy():
    frame = np.full((64, 64, 3), 128, np.uint8)
    kp = np.array([[10.0, 20.0], [50.0, 40.0], [-30.0, 5.0]])  # the last one is outside the frame
    out = draw_keypoints(frame, kp, radius=3)
    colors = keypoint_colors(3)
    np.testing.assert_array_equal(out[20, 10], colors[0])  # (row y, column x)
    np.testing.assert_array_equal(out[40, 50], colors[1])
    np.testing.assert_array_equal(out[40, 53], colors[1])  # within the radius
    assert (out[40, 54] == 128).all() and (out[0:10, 30:] == 128).all()
    assert (frame == 128).all()
    assert ((out != 128).any(axis=2)).sum() == 2 * 29  # two whole disks of radius 3, nothing else
