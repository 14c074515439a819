"""``shape_in_motion_video``: one figure's body moving as another figure does, the ground truth of animating
across body shapes (the AVD stage's measure, scripts/avd_scores.py)."""

from __future__ import annotations

import numpy as np

from fomm.data.synthetic import SyntheticConfig, generate_video, shape_in_motion_video

CONFIG = SyntheticConfig(size=64, num_frames=6, limb_swing=2)


def test_a_figure_in_its_own_motion_is_its_video():
    own = shape_in_motion_video([5, 0], [5, 0], CONFIG)
    video = generate_video([5, 0], CONFIG)
    assert np.array_equal(own.frames, video.frames)
    assert np.array_equal(own.tracks.positions, video.tracks.positions)


def test_the_body_and_looks_are_the_first_figures_and_the_motion_the_seconds():
    shape, motion = generate_video([5, 0], CONFIG), generate_video([5, 1], CONFIG)
    mixed = shape_in_motion_video([5, 0], [5, 1], CONFIG)
    assert np.array_equal(mixed.tracks.part_colors, shape.tracks.part_colors)
    torso = mixed.tracks.positions[:, 0]
    assert np.abs(torso - motion.tracks.positions[:, 0]).max() < 0.5  # the torso goes where the motion's goes
    assert np.abs(torso - shape.tracks.positions[:, 0]).max() > 5
    # Same background as the shape's figure: the corners (never covered by a part) are its.
    corners = (slice(0, 4), slice(0, 4))
    np.testing.assert_array_equal(mixed.frames[:, corners[0], corners[1]], shape.frames[:, corners[0], corners[1]])
