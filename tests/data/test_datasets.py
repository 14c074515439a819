"""Datasets: every entry kind gives pairs from the right video, splits, id_sampling, pairs lists, and one
clear DatasetError per layout mistake. Frames are uniform colors that encode (video, frame) and survive
H.264: red = 40 + 60 v, green = 20 + 12 i."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from fomm.config import load_config
from fomm.data.datasets import (
    ContainerVideo,
    DatasetError,
    DatasetRepeater,
    FramesDataset,
    PairedDataset,
    find_videos,
    make_dataset,
    validate_dataset,
)

S = 32  # frame side
SHAPE = (S, S, 3)


def frame(v: int, i: int, size: tuple[int, int] = (S, S)) -> np.ndarray:
    out = np.empty((*size, 3), np.uint8)
    out[...] = (40 + 60 * v, 20 + 12 * i, 120)
    return out


def decode(img) -> tuple[int, int]:
    """(video, frame) of a frame from :func:`frame`, uint8 (H, W, 3) or float (3, H, W)."""
    if isinstance(img, torch.Tensor):
        img = img.permute(1, 2, 0).numpy() * 255
    r, g = float(img[..., 0].mean()), float(img[..., 1].mean())
    return round((r - 40) / 60), round((g - 20) / 12)


def write_folder(path: Path, v: int, n: int, size=(S, S)) -> Path:
    path.mkdir(parents=True)
    for i in range(n):  # frame1.png ... frame10.png: only a natural sort orders them
        Image.fromarray(frame(v, i, size)).save(path / f"frame{i + 1}.png")
    return path


def write_mp4(path: Path, v: int, n: int, size=(S, S)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(10), options={"crf": "10", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        for i in range(n):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame(v, i, size), format="rgb24")))
        container.mux(stream.encode())
    return path


def write_gif(path: Path, v: int, n: int, size=(S, S)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame(v, i, size)) for i in range(n)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def write_strip(path: Path, v: int, n: int, size=(S, S)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([frame(v, i, size) for i in range(n)], axis=1)).save(path)
    return path


WRITERS = {"folder": (write_folder, ""), "mp4": (write_mp4, ".mp4"), "gif": (write_gif, ".gif"),
           "strip": (write_strip, ".png")}


def _sample(dataset: FramesDataset, index: int, draws: int = 12) -> list[dict]:
    torch.manual_seed(0)
    return [dataset[index] for _ in range(draws)]


@pytest.mark.parametrize("kind", list(WRITERS))
def test_each_entry_kind_gives_pairs_of_its_own_video(tmp_path, kind):
    write, ext = WRITERS[kind]
    n = 6
    for v, split in ((0, "train"), (1, "train"), (2, "test")):
        write(tmp_path / split / f"video{v}{ext}", v, n)
    (tmp_path / "train" / "video0.tracks.json").write_text("{}")  # not a video: ignored
    train = FramesDataset(tmp_path, SHAPE)
    assert train.videos == [f"video0{ext}", f"video1{ext}"]
    seen = set()
    for item in _sample(train, 1):
        assert item["source"].shape == item["driving"].shape == (3, S, S)
        assert item["source"].dtype == torch.float32 and 0 <= item["source"].min() <= item["source"].max() <= 1
        (vs, i), (vd, j) = decode(item["source"]), decode(item["driving"])
        assert vs == vd == 1 and item["name"] == f"video1{ext}"
        assert 0 <= i <= j < n  # sorted in time, as the original
        seen |= {i, j}
    assert len(seen) > 2  # really random frames

    test = FramesDataset(tmp_path, SHAPE, is_train=False)
    item = test[0]
    video = item["video"]
    assert item["name"] == f"video2{ext}" and len(video) == n
    assert [decode(f) for f in video] == [(2, i) for i in range(n)]
    assert video.to_tensor().shape == (3, n, S, S)
    assert [b.shape[0] for b in video.batches(4)] == [4, 2]


def test_video_files_decode_only_up_to_the_last_needed_frame(tmp_path, monkeypatch):
    source = ContainerVideo(write_mp4(tmp_path / "a.mp4", 0, 8))
    assert source.num_frames() == 8
    yielded = []
    original = ContainerVideo.frames

    def counting(self):
        for f in original(self):
            yielded.append(1)
            yield f

    monkeypatch.setattr(ContainerVideo, "frames", counting)
    frames = source.read([3, 1, 3])
    assert [decode(f) for f in frames] == [(0, 3), (0, 1), (0, 3)]
    assert len(yielded) == 4


def test_truncated_video_names_the_file(tmp_path):
    path = write_mp4(tmp_path / "a.mp4", 0, 8)
    source = ContainerVideo(path)
    with pytest.raises(DatasetError, match="a.mp4"):
        source.read([20])


def test_random_split_without_train_and_test(tmp_path):
    for v in range(10):
        write_strip(tmp_path / f"v{v}.png", 0, 2)
    (tmp_path / "notes.csv").write_text("x\n")
    train = FramesDataset(tmp_path, SHAPE, random_seed=3).videos
    test = FramesDataset(tmp_path, SHAPE, is_train=False, random_seed=3).videos
    assert len(train) == 8 and len(test) == 2
    assert sorted(train + test) == sorted(f"v{v}.png" for v in range(10))
    assert FramesDataset(tmp_path, SHAPE, is_train=False, random_seed=3).videos == test  # seeded
    other = {tuple(FramesDataset(tmp_path, SHAPE, is_train=False, random_seed=s).videos) for s in range(5)}
    assert len(other) > 1


def test_id_sampling_picks_one_identity_per_item(tmp_path):
    write_folder(tmp_path / "train" / "a#x", 0, 3)
    write_folder(tmp_path / "train" / "a#y", 1, 3)
    write_folder(tmp_path / "train" / "b#x", 2, 3)
    (tmp_path / "test").mkdir()
    dataset = FramesDataset(tmp_path, SHAPE, id_sampling=True)
    assert len(dataset) == 2 and dataset.videos == ["a", "b"]
    names_a = {item["name"] for item in _sample(dataset, 0, 16)}
    assert names_a == {"a#x", "a#y"}
    assert {decode(item["source"])[0] for item in _sample(dataset, 1)} == {2}


def test_pairs_list_and_random_pairs(tmp_path):
    for v in range(3):
        write_folder(tmp_path / "test" / f"v{v}", v, 2)
    (tmp_path / "train").mkdir()
    csv = tmp_path / "pairs.csv"
    csv.write_text("source,driving\nv0,v2\nv1,missing\nv2,v1\n")
    test = FramesDataset(tmp_path, SHAPE, is_train=False, pairs_list=csv)
    paired = PairedDataset(test, number_of_pairs=10)
    assert len(paired) == 2
    item = paired[0]
    assert (item["source_name"], item["driving_name"]) == ("v0", "v2")
    assert decode(next(iter(item["driving_video"])))[0] == 2
    assert (paired[1]["source_name"], paired[1]["driving_name"]) == ("v2", "v1")

    random_pairs = PairedDataset(FramesDataset(tmp_path, SHAPE, is_train=False), number_of_pairs=4, seed=1)
    assert len(random_pairs) == 4 and len(set(random_pairs.pairs)) == 4
    assert random_pairs.pairs == PairedDataset(FramesDataset(tmp_path, SHAPE, is_train=False), 4, seed=1).pairs

    csv.write_text("source,driving\nx,y\n")
    with pytest.raises(DatasetError, match="none of the 1 pairs"):
        PairedDataset(test, number_of_pairs=10)


def test_repeater_and_reproducible_items(tmp_path):
    for v in range(3):
        write_folder(tmp_path / "train" / f"v{v}", v, 4)
    dataset = FramesDataset(tmp_path, SHAPE)
    repeated = DatasetRepeater(dataset, 4)
    assert len(repeated) == 12
    items = [repeated[i] for i in range(12)]
    assert [item["name"] for item in items] == ["v0", "v1", "v2"] * 4
    assert [decode(item["source"])[0] for item in items] == [0, 1, 2] * 4  # the frames of that video
    torch.manual_seed(7)
    first = repeated[5]
    torch.manual_seed(7)
    again = dataset[2]
    assert torch.equal(first["source"], again["source"]) and torch.equal(first["driving"], again["driving"])


def _marked_frame(size: int, level: int = 100) -> np.ndarray:
    """A gray frame with a bright block on the left edge: a horizontal flip moves it to the right."""
    out = np.full((size, size, 3), level, np.uint8)
    out[:, : size // 4] = (230, 60, 30)
    return out


@pytest.mark.parametrize("augmentation", ["flip", "brightness"])
def test_make_dataset_from_config_applies_augmentation(tmp_path, augmentation):
    """The config's augmentation is what the items get: with a one-frame video, each item is the frame or
    its mirror (flip), or the frame times one factor in [0.5, 1.5] (brightness), and both outcomes occur."""
    config = load_config("vox-256")
    size = 128  # the smallest frame vox-256's networks divide
    config.dataset_params.frame_shape = [size, size, 3]
    config.dataset_params.id_sampling = False
    params = config.dataset_params.augmentation_params
    params.flip_param.time_flip = False
    if augmentation == "flip":
        params.jitter_param = None
    else:
        params.flip_param = None
        params.jitter_param.brightness, params.jitter_param.contrast = 0.5, 0
        params.jitter_param.saturation, params.jitter_param.hue = 0, 0
    folder = tmp_path / "train" / "v0"
    folder.mkdir(parents=True)
    raw = _marked_frame(size)
    Image.fromarray(raw).save(folder / "0.png")
    write_folder(tmp_path / "test" / "v1", 1, 1, size=(size, size))
    train = make_dataset(config, tmp_path)
    original = torch.from_numpy(raw).permute(2, 0, 1).float() / 255
    changed = 0
    for seed in range(12):
        torch.manual_seed(seed)
        item = train[0]
        assert torch.equal(item["source"], item["driving"])  # one draw for both frames
        if augmentation == "flip":
            mirrored = torch.equal(item["source"], original.flip(-1))
            assert mirrored or torch.equal(item["source"], original)
        else:
            factor = float(item["source"][2].mean() / original[2].mean())  # blue stays below 1 after scaling
            assert 0.5 <= factor <= 1.5
            torch.testing.assert_close(item["source"], (original * factor).clamp(0, 1), atol=1e-5, rtol=0)
            mirrored = abs(factor - 1) > 0.01
        changed += mirrored
    assert 0 < changed < 12 if augmentation == "flip" else changed >= 10
    test = make_dataset(config, tmp_path, is_train=False)
    assert test.transform is None and decode(next(iter(test[0]["video"])))[0] == 1


# ----------------------------------------------------------------------------- one error per mistake
def test_zero_videos_explains_the_layout(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    (tmp_path / "train" / "labels.json").write_text("{}")
    (tmp_path / "train" / ".DS_Store").write_text("")
    with pytest.raises(DatasetError, match=r"0 videos found in .*train \(ignored: labels.json\).*one entry per video"):
        FramesDataset(tmp_path, SHAPE)
    with pytest.raises(DatasetError, match="0 videos found"):
        validate_dataset(tmp_path, SHAPE)
    with pytest.raises(DatasetError, match="dataset folder not found"):
        find_videos(tmp_path / "nope")


def test_unreadable_files_are_named(tmp_path):
    write_folder(tmp_path / "train" / "good", 0, 2)
    (tmp_path / "train" / "broken.mp4").write_bytes(b"this is not a video" * 20)
    write_folder(tmp_path / "test" / "v1", 1, 2)
    with pytest.raises(DatasetError, match=r"cannot read .*broken\.mp4"):
        validate_dataset(tmp_path, SHAPE)
    (tmp_path / "train" / "broken.mp4").unlink()
    bad = write_folder(tmp_path / "train" / "bad", 0, 2)
    (bad / "frame1.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"bad/frame1\.png"):
        validate_dataset(tmp_path, SHAPE)


def test_empty_folders_and_loose_frames(tmp_path):
    (tmp_path / "train" / "empty").mkdir(parents=True)
    write_folder(tmp_path / "test" / "v", 0, 2)
    with pytest.raises(DatasetError, match="holds no frames"):
        validate_dataset(tmp_path, SHAPE)
    (tmp_path / "train" / "empty").rmdir()
    for i in range(3):
        Image.fromarray(frame(0, i)).save(tmp_path / "train" / f"{i:04d}.png")
    with pytest.raises(DatasetError, match="single image"):
        validate_dataset(tmp_path, SHAPE)


def test_wrong_frame_size_names_video_sizes_and_fix(tmp_path):
    write_folder(tmp_path / "train" / "small", 0, 2, size=(24, 40))
    write_folder(tmp_path / "test" / "v", 0, 2)
    expected = r"small has frames of 24x40 .*frame_shape is 32x32: resize the data .* \[24, 40, 3\]"
    with pytest.raises(DatasetError, match=expected):
        validate_dataset(tmp_path, SHAPE)
    with pytest.raises(DatasetError, match=expected):  # also caught when reading, without validation
        FramesDataset(tmp_path, SHAPE)[0]
    validate_dataset(tmp_path, SHAPE, splits=("test",))


def test_frame_size_the_architecture_cannot_divide(tmp_path):
    config = load_config("vox-256")  # kp detector: 0.25 scale, 5 blocks -> multiples of 128
    write_folder(tmp_path / "train" / "v", 0, 2, size=(96, 96))
    with pytest.raises(DatasetError, match=r"frame_shape \[96, 96, 3\].*model_params.kp_detector_params"):
        validate_dataset(tmp_path, (96, 96, 3), config)


def test_id_sampling_names_without_identity(tmp_path):
    write_folder(tmp_path / "train" / "id1#a", 0, 2)
    write_folder(tmp_path / "train" / "clip2", 0, 2)
    write_folder(tmp_path / "test" / "clip3", 0, 2)
    message = r"id_sampling is on, but 1 of 2 video names .* lack '#' \('clip2'\).*id_sampling: false"
    with pytest.raises(DatasetError, match=message):
        FramesDataset(tmp_path, SHAPE, id_sampling=True)
    with pytest.raises(DatasetError, match=message):
        validate_dataset(tmp_path, SHAPE, id_sampling=True)
    FramesDataset(tmp_path, SHAPE, id_sampling=True, is_train=False)  # test mode ignores identities
