"""Part metrics on synthetic videos: parts found by color where the tracks say they are, and AKD / MKR
(overall and per part) between generated and real frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fomm.data.synthetic import PALETTE, SyntheticConfig, Tracks, generate_video, part_shades
from fomm.evaluation.parts import measure_part_positions, measure_parts, part_masks, part_position_error

SMALL = SyntheticConfig(size=64, num_frames=8)


@pytest.fixture(scope="module")
def video():
    return generate_video(3, SMALL)


def test_measured_positions_match_tracks(video):
    errors = []
    for frame, positions, visible in zip(video.frames, video.tracks.positions, video.tracks.visible, strict=True):
        measured, found = measure_part_positions(frame, video.tracks.part_colors)
        assert found[visible].all()
        errors.append(np.linalg.norm(measured[visible] - positions[visible], axis=-1))
    errors = np.concatenate(errors)
    assert errors.mean() < 0.3 and errors.max() < 1.5
    # the positions are the centroids of the parts' pixels (part_masks), in (x, y)
    masks = part_masks(video.frames[0], video.tracks.part_colors)
    assert masks.shape == (len(video.tracks.part_colors), *video.frames[0].shape[:2]) and masks.dtype == bool
    ys, xs = np.nonzero(masks[0])
    assert measure_part_positions(video.frames[0], video.tracks.part_colors)[0][0] == pytest.approx(
        [xs.mean(), ys.mean()])


def test_measure_ignores_background():
    still = generate_video(0, SyntheticConfig(num_frames=1, num_parts=2, motion_scale=0.0))
    palette = np.array([color for _, color in PALETTE], dtype=np.uint8)
    absent = [c for c in palette if not (still.tracks.part_colors == c).all(axis=1).any()]
    _, found = measure_part_positions(still.frames[0], np.array(absent))
    assert not found.any()


def test_akd_of_a_frame_and_its_shift():
    still = generate_video(5, SyntheticConfig(num_frames=2, motion_scale=0.0))
    frames, colors = still.frames, still.tracks.part_colors
    same = part_position_error(frames, frames, colors)
    assert same.akd == 0.0 and same.mkr == 0.0 and same.num_matched == 10
    # the figure stays well inside the frame, so rolling moves every part by exactly (3, 2) pixels
    shifted = np.roll(frames, shift=(2, 3), axis=(1, 2))
    moved = part_position_error(shifted, frames, colors)
    assert moved.akd == pytest.approx(math.hypot(3, 2), abs=1e-9) and moved.mkr == 0.0
    as_float = part_position_error(frames.astype(np.float32) / 255.0, frames, colors)
    assert as_float.akd == 0.0
    blank = part_position_error(np.full_like(frames, 128), frames, colors)
    assert blank.mkr == 1.0 and math.isnan(blank.akd)
    # the real frames measured once and reused (as fomm reconstruct does for the model and the baseline)
    measured = measure_parts(frames, colors)
    assert measured.positions.shape == (2, len(colors), 2) and measured.found.all()
    assert part_position_error(shifted, measured, colors) == moved
    with pytest.raises(ValueError, match="part_colors"):
        part_position_error(shifted, measured)


def test_akd_per_part_tells_the_part_that_moved_wrong():
    still = generate_video(5, SyntheticConfig(num_frames=2, motion_scale=0.0))
    frames, colors = still.frames, still.tracks.part_colors
    # part 0 (the torso) painted over with the background: missed; the others where they were
    torso = [colors[0], part_shades(colors)[0]]
    near = np.min([np.linalg.norm(frames.astype(float) - c, axis=-1) for c in torso], axis=0) < 90
    painted = np.where(near[..., None], frames[:, :1, :1], frames)  # the background's corner color
    error = part_position_error(painted, frames, colors)
    assert error.part_missed[0] == 2 and error.part_matched[0] == 0
    assert error.part_missed[1:] == (0,) * (len(colors) - 1) and error.part_reference == (2,) * len(colors)
    assert error.mkr == pytest.approx(2 / (2 * len(colors)))
    shifted = part_position_error(np.roll(frames, shift=(0, 4), axis=2), frames, colors)
    assert np.allclose(np.array(shifted.part_distance_sum) / np.array(shifted.part_matched), 4.0)
    assert shifted.akd == pytest.approx(sum(shifted.part_distance_sum) / shifted.num_matched)


def test_akd_against_tracks(video):
    result = part_position_error(video.frames, video.tracks)
    assert result.akd < 0.3 and result.mkr == 0.0
    assert isinstance(video.tracks, Tracks)


def test_sizes_up_to_256_render():
    big = generate_video(0, SyntheticConfig(size=256, num_frames=1, supersample=2))
    measured, found = measure_part_positions(big.frames[0], big.tracks.part_colors)
    visible = big.tracks.visible[0]
    assert found[visible].all()
    assert np.abs(measured[visible] - big.tracks.positions[0][visible]).max() < 1.5
