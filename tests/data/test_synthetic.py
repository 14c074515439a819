"""Synthetic videos: determinism, the on-disk layout, tracks files, color measurement, AKD / MKR."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from fomm.data.synthetic import (
    PALETTE,
    SyntheticConfig,
    Tracks,
    generate_video,
    load_tracks,
    make_synthetic_dataset,
    measure_part_positions,
    measure_parts,
    part_masks,
    part_position_error,
    part_shades,
)

SMALL = SyntheticConfig(size=64, num_frames=8)


@pytest.fixture(scope="module")
def video():
    return generate_video(3, SMALL)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "ds"
    calls: list[int] = []
    summary = make_synthetic_dataset(root, num_videos=3, num_frames=8, size=64, seed=1, on_video=calls.append)
    return summary, calls


def test_same_seed_same_video_other_seed_differs(video):
    again = generate_video(3, SMALL)
    np.testing.assert_array_equal(again.frames, video.frames)
    np.testing.assert_array_equal(again.tracks.positions, video.tracks.positions)
    np.testing.assert_array_equal(again.tracks.visible, video.tracks.visible)
    other = generate_video(4, SMALL)
    assert not np.array_equal(other.frames, video.frames)
    assert video.frames.shape == (8, 64, 64, 3) and video.frames.dtype == np.uint8
    assert video.tracks.positions.shape == (8, 5, 2) and video.tracks.visible.shape == (8, 5)


def test_layout_and_file_counts(dataset):
    summary, calls = dataset
    root = summary.root
    assert summary.train_videos == ("vid00000", "vid00001") and summary.test_videos == ("vid00002",)
    assert calls == [0, 1, 2]
    assert sorted(p.name for p in root.iterdir()) == [".fomm-output", "synthetic.json", "test", "train"]
    assert not [p for p in root.parent.iterdir() if p.name != "ds"]  # no temporary folder left behind
    for split, names in (("train", summary.train_videos), ("test", summary.test_videos)):
        entries = sorted(p.name for p in (root / split).iterdir())
        assert entries == sorted([*names, *(f"{n}.tracks.json" for n in names)])
        for name in names:
            frames = sorted((root / split / name).iterdir())
            assert [p.name for p in frames] == [f"{t:06d}.png" for t in range(8)]
    # the files hold exactly what generate_video makes from seed (seed, index)
    on_disk = np.stack([np.asarray(Image.open(p)) for p in sorted((root / "test" / "vid00002").iterdir())])
    np.testing.assert_array_equal(on_disk, generate_video([1, 2], SMALL).frames)


def test_tracks_json_schema_and_round_trip(dataset):
    summary, _ = dataset
    path = summary.train_dir / "vid00001.tracks.json"
    doc = json.loads(path.read_text())
    assert doc["format"] == "fomm-synthetic-tracks" and doc["version"] == 1
    assert doc["size"] == 64 and doc["fps"] > 0 and doc["num_frames"] == 8 and doc["seed"] == [1, 1]
    assert [set(p) for p in doc["parts"]] == [{"name", "color", "shade"}] * 5
    assert len(doc["frames"]) == 8
    for frame in doc["frames"]:
        assert len(frame) == 5
        for part in frame:
            assert set(part) == {"x", "y", "visible"} and isinstance(part["visible"], bool)

    tracks = load_tracks(path)
    expected = generate_video([1, 1], SMALL).tracks
    np.testing.assert_allclose(tracks.positions, expected.positions, atol=1e-3)
    np.testing.assert_array_equal(tracks.visible, expected.visible)
    np.testing.assert_array_equal(tracks.part_colors, expected.part_colors)
    assert tracks.part_names == expected.part_names and tracks.size == 64


def test_load_tracks_rejects_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a synthetic tracks file"):
        load_tracks(path)


def test_never_replaces_a_folder_it_did_not_make(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "keep.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=r"holds 1 entry fomm did not write \(keep.txt\)"):
            make_synthetic_dataset(root, num_videos=1, num_frames=2, overwrite=overwrite)
    assert sorted(p.name for p in root.iterdir()) == ["keep.txt"] and (root / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_replaces_its_own_dataset_only_with_overwrite(tmp_path):
    root = tmp_path / "ds"
    make_synthetic_dataset(root, num_videos=2, num_frames=2, test_fraction=0.5)
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        make_synthetic_dataset(root, num_videos=1, num_frames=2)
    assert (root / "test" / "vid00001").is_dir()
    summary = make_synthetic_dataset(root, num_videos=1, num_frames=2, overwrite=True)
    assert summary.train_videos == ("vid00000",) and summary.test_videos == ()
    assert not (root / "test" / "vid00001").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


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


def test_motion_dominates():
    for seed in (0, 1):
        v = generate_video(seed, SyntheticConfig(num_frames=16))
        frames = v.frames.astype(np.float32) / 255.0
        assert np.abs(frames[1:] - frames[:1]).mean() > 0.03  # repeating frame 0 is a poor reconstruction
        moved = np.linalg.norm(v.tracks.positions[1:] - v.tracks.positions[:1], axis=-1)
        assert moved.mean() > 0.1 * 64


def test_rejects_too_many_parts():
    with pytest.raises(ValueError, match="num_parts"):
        SyntheticConfig(num_parts=7)


def test_sizes_up_to_256_render():
    big = generate_video(0, SyntheticConfig(size=256, num_frames=1, supersample=2))
    measured, found = measure_part_positions(big.frames[0], big.tracks.part_colors)
    visible = big.tracks.visible[0]
    assert found[visible].all()
    assert np.abs(measured[visible] - big.tracks.positions[0][visible]).max() < 1.5


def test_limb_swing_scales_only_the_limbs_swing():
    from fomm.data.synthetic import _pose, _sample_figure

    base = SyntheticConfig(num_frames=8)
    assert (generate_video(3, base).frames == generate_video(3, SyntheticConfig(num_frames=8, limb_swing=1.0)).frames
            ).all()
    figures = {s: _sample_figure(np.random.default_rng(3), SyntheticConfig(limb_swing=s)) for s in (0.0, 1.0, 2.0)}
    for still, one, two in zip(*(figures[s].limbs for s in (0.0, 1.0, 2.0)), strict=True):
        assert still.swing.amplitude == 0 and two.swing.amplitude == pytest.approx(2 * one.swing.amplitude)
        assert (still.attach, still.length) == (one.attach, one.length) == (two.attach, two.length)
    # the body moves the same whatever the swing; with none, the limbs keep their angle to the torso
    for t in (0.0, 5.0):
        poses = {s: _pose(figures[s], t) for s in (0.0, 1.0, 2.0)}
        assert poses[0.0][0] == poses[1.0][0] == poses[2.0][0]
        torso = poses[0.0][0]
        for limb, rest in zip(poses[0.0][1:], figures[0.0].limbs, strict=True):
            assert limb.angle - torso.angle == pytest.approx(rest.rest_angle)
    with pytest.raises(ValueError, match="limb_swing"):
        SyntheticConfig(limb_swing=-1)
