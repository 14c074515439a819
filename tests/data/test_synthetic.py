"""Synthetic videos: determinism, the on-disk layout, tracks files (their part metrics are tested in
tests/evaluation/test_parts.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fomm.data.synthetic import (
    SyntheticConfig,
    generate_video,
    load_tracks,
    make_synthetic_dataset,
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
