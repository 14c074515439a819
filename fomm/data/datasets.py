"""Training and evaluation datasets in the original layout (paper Sec. 4, the authors' ``frames_dataset.py``).

A dataset root holds ``train/`` and ``test/``, each with one entry per video:

- a folder of frames (png, jpg, ...), sorted naturally by name;
- a video file (:data:`fomm.io.VIDEO_EXTENSIONS`: mp4, mov, avi, mkv, webm, m4v, gif), decoded only as
  far as needed;
- one image of the frames side by side (width = k x height for square frames).

Other files (``*.json``, ``*.csv``, hidden files) are ignored. A root without ``train/`` and ``test/``
is split at random (20 % test, seeded), as the original did.

Training items are two random frames of one video, sorted in time, augmented together:
``{'source': (3, H, W), 'driving': (3, H, W), 'name': str}``, float32 in [0, 1]. Test items are
``{'video': VideoFrames, 'name': str}``, where :class:`VideoFrames` decodes frames on demand, so long
videos never sit in memory whole. Frames are used at their stored size: :func:`validate_dataset`
(which :func:`make_dataset` runs) checks it against ``dataset_params.frame_shape`` up front.
"""

from __future__ import annotations

import csv
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import AugmentationParams, Config, ConfigError, validate_frame_size
from ..errors import FommError
from ..io import (
    IMAGE_EXTENSIONS,
    MediaError,
    VideoReader,
    count_frames,
    image_size,
    is_video_path,
    read_image,
    to_tensor,
)
from ..io.paths import list_frames
from .augmentation import Augmentation

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetError", "DatasetRepeater", "DatasetSummary", "FramesDataset", "PairedDataset", "VideoFrames",
    "VideoSource", "find_videos", "make_dataset", "open_video", "validate_dataset",
]

TEST_FRACTION = 0.2
LAYOUT = ("expected <root>/train/ and <root>/test/, each holding one entry per video: a folder of frames "
          "(png/jpg), a video file (mp4/mov/avi/mkv/webm/gif) or one image of the frames side by side")


class DatasetError(FommError, ValueError):
    """The dataset on disk does not fit the configuration; the message names the file and the fix."""


# ----------------------------------------------------------------------------- one video on disk
class VideoSource(ABC):
    """One video entry of a dataset. Opens files only when asked, so a dataset of thousands of
    entries costs nothing until read (and pickles cheaply into DataLoader workers)."""

    kind = "video"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name

    @property
    def identity(self) -> str:
        """The identity prefix used by ``id_sampling`` (VoxCeleb ``id10001#video#...``)."""
        return self.name.split("#")[0]

    @abstractmethod
    def num_frames(self) -> int:
        """The number of frames (exact)."""

    @abstractmethod
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the frames, from the file headers where possible."""

    @abstractmethod
    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, (H, W, 3) uint8 RGB, one at a time."""

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        """The frames at ``indices`` (any order, repeats allowed), decoding no further than the last."""
        wanted = sorted(set(int(i) for i in indices))
        found: dict[int, np.ndarray] = {}
        decoded = 0
        if wanted:
            for decoded, frame in enumerate(islice(self.frames(), wanted[-1] + 1), start=1):
                if decoded - 1 in wanted:
                    found[decoded - 1] = frame
        if len(found) < len(wanted):
            raise DatasetError(f"cannot read frame {wanted[-1]} of {self.path}: only {decoded} frames decode "
                               "although the file lists more; it looks truncated, re-encode or remove it")
        return [found[int(i)] for i in indices]

    def fps(self) -> float | None:
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


class FrameFolder(VideoSource):
    """A folder of image frames in natural name order (``frame2.png`` before ``frame10.png``)."""

    kind = "frame folder"

    def _files(self) -> list[Path]:
        # Listed on each use rather than cached: a dataset of millions of frames would otherwise hold
        # every file name in every DataLoader worker.
        return list_frames(self.path)

    def num_frames(self) -> int:
        return len(self._files())

    def frame_size(self) -> tuple[int, int]:
        files = self._files()
        if not files:
            raise DatasetError(_empty_folder_message(self.path))
        return _image_size(files[0])

    def frames(self) -> Iterator[np.ndarray]:
        for file in self._files():
            yield _read_image(file)

    def check_frame_sizes(self, size: tuple[int, int]) -> None:
        """Refuse a frame whose size differs from ``size`` (from the image headers: no decoding), so one
        odd frame among thousands is found before training, not when a batch draws it."""
        for index, file in enumerate(self._files()):
            found = _image_size(file)
            if found != tuple(size):
                raise DatasetError(f"{file}: frame {index} of {self.path} is {found[0]}x{found[1]} but its first "
                                   f"frame is {size[0]}x{size[1]}; all frames of a video must have one size: "
                                   "resize or remove it")

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        files = self._files()
        if not files:
            raise DatasetError(_empty_folder_message(self.path))
        return [_read_image(files[int(i)]) for i in indices]


class ContainerVideo(VideoSource):
    """A video file (mp4, mov, gif, ...) read with :class:`fomm.io.VideoReader`."""

    kind = "video file"

    def num_frames(self) -> int:
        return _media(count_frames, self.path, header=True)

    def frame_size(self) -> tuple[int, int]:
        with _reader(self.path) as reader:
            width, height = reader.size
        return height, width

    def frames(self) -> Iterator[np.ndarray]:
        with _reader(self.path) as reader:
            try:
                yield from reader
            except MediaError as exc:
                raise DatasetError(str(exc)) from exc

    def fps(self) -> float | None:
        with _reader(self.path) as reader:
            return reader.fps


class StripImage(VideoSource):
    """One image holding the frames side by side (the original's convention for .png/.jpg videos).

    Frames have the aspect ratio of ``frame_shape`` (square by default): a 64 x 640 image is ten
    64 x 64 frames.
    """

    kind = "image strip"

    def __init__(self, path: Path, frame_shape: Sequence[int] | None = None):
        super().__init__(path)
        self.aspect = 1.0 if frame_shape is None else frame_shape[1] / frame_shape[0]

    def _frame_width(self, height: int) -> int:
        return max(1, round(height * self.aspect))

    def num_frames(self) -> int:
        height, width = _image_size(self.path)
        frame_width = self._frame_width(height)
        if width % frame_width:
            raise DatasetError(
                f"{self.path} is {width} pixels wide, not a multiple of its frame width {frame_width} (its height "
                "times the frame_shape aspect); an image entry must hold whole frames side by side")
        return width // frame_width

    def frame_size(self) -> tuple[int, int]:
        height, _ = _image_size(self.path)
        return height, self._frame_width(height)

    def frames(self) -> Iterator[np.ndarray]:
        strip = _read_image(self.path)
        step = self._frame_width(strip.shape[0])
        for start in range(0, strip.shape[1] - step + 1, step):
            yield strip[:, start:start + step].copy()

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        frames = list(self.frames())
        return [frames[int(i)] for i in indices]


def open_video(path: str | Path, frame_shape: Sequence[int] | None = None) -> VideoSource | None:
    """The video entry at ``path``, or None when it is not one (hidden, or another kind of file).
    A folder counts as a video (of frames) even when its name has an extension (``x.mp4/``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.name.startswith("."):
        return None
    if path.is_dir():
        return FrameFolder(path)
    if is_video_path(path):
        return ContainerVideo(path)
    if suffix in IMAGE_EXTENSIONS:
        return StripImage(path, frame_shape)
    return None


def _media(read, path: Path, header: bool = False):
    """``read(path)`` (a :mod:`fomm.io` reader), its :class:`MediaError` as a :class:`DatasetError`; for
    a ``header`` read (counts, sizes), worded for a dataset entry."""
    try:
        return read(path)
    except MediaError as exc:
        if header:
            raise DatasetError(f"cannot read {path} ({exc.__cause__ or exc}); the file is damaged or not a video "
                               "or image: re-encode or remove it") from exc
        raise DatasetError(str(exc)) from exc


def _reader(path: Path) -> VideoReader:
    return _media(VideoReader, path)


def _read_image(path: Path) -> np.ndarray:
    return _media(read_image, path)


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the image header."""
    return _media(image_size, path, header=True)


def _no_frames_message(video: VideoSource) -> str:
    if isinstance(video, FrameFolder):
        return _empty_folder_message(video.path)
    return f"{video.path} holds no video frames; remove it from the dataset or re-encode it"


def _empty_folder_message(path: Path) -> str:
    children = [p.name for p in sorted(path.iterdir()) if not p.name.startswith(".")] if path.is_dir() else []
    sub = [name for name in children if (path / name).is_dir()]
    hint = (f"; it holds folders ({', '.join(sub[:3])}): put one folder of frames per video directly in "
            f"{path.parent}" if sub else f"; {LAYOUT}")
    return f"video folder {path} holds no frames ({'/'.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)}){hint}"


# ----------------------------------------------------------------------------- splits
def _entries(folder: Path, frame_shape: Sequence[int] | None) -> list[VideoSource]:
    if not folder.is_dir():
        return []
    entries = (open_video(p, frame_shape) for p in sorted(folder.iterdir()))
    return [e for e in entries if e is not None]


def _zero_videos(folder: Path) -> DatasetError:
    if not folder.exists():
        detail = " (the folder does not exist)"
    else:
        ignored = [p.name for p in sorted(folder.iterdir()) if not p.name.startswith(".")]
        detail = f" (ignored: {', '.join(ignored[:5])}{', ...' if len(ignored) > 5 else ''})" if ignored else ""
    return DatasetError(f"0 videos found in {folder}{detail}; {LAYOUT}")


def find_videos(root_dir: str | Path, is_train: bool = True, frame_shape: Sequence[int] | None = None,
                random_seed: int = 0) -> tuple[Path, list[VideoSource]]:
    """The split's folder and its video entries, sorted by name.

    With ``root/train`` or ``root/test`` present those are the splits; otherwise the entries of
    ``root`` are shuffled with ``random_seed`` and ceil(20 %) go to test (the original's
    ``train_test_split``; with a single entry it goes to train). Raises :class:`DatasetError` when
    the split holds no video.
    """
    root = Path(root_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root} (set dataset_params.root_dir or --data); {LAYOUT}")
    if (root / "train").is_dir() or (root / "test").is_dir():
        folder = root / ("train" if is_train else "test")
        videos = _entries(folder, frame_shape)
    else:
        folder = root
        everything = _entries(root, frame_shape)
        num_test = math.ceil(TEST_FRACTION * len(everything)) if len(everything) > 1 else 0
        order = np.random.default_rng(random_seed).permutation(len(everything))
        chosen = order[:num_test] if not is_train else order[num_test:]
        videos = sorted((everything[i] for i in chosen), key=lambda v: v.name)
    if not videos:
        raise _zero_videos(folder)
    return folder, videos


def _check_id_names(videos: Sequence[VideoSource], folder: Path) -> None:
    bad = [v.name for v in videos if "#" not in v.name]
    if bad:
        shown = ", ".join(repr(n) for n in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise DatasetError(
            f"dataset_params.id_sampling is on, but {len(bad)} of {len(videos)} video names in {folder} lack '#' "
            f"({shown}): id_sampling picks one video per identity, named '<identity>#<video>...' "
            "(VoxCeleb: 'id10001#7w0IBEWc9Qw#000993#001143.mp4'); rename the videos or set "
            "dataset_params.id_sampling: false")


def _size_message(video: VideoSource, size: Sequence[int], frame_shape: Sequence[int]) -> str:
    h, w = int(size[0]), int(size[1])
    eh, ew = int(frame_shape[0]), int(frame_shape[1])
    return (f"video {video.path} has frames of {h}x{w} (height x width) but dataset_params.frame_shape is "
            f"{eh}x{ew}: resize the data to {eh}x{ew} or set dataset_params.frame_shape to [{h}, {w}, 3]")


# ----------------------------------------------------------------------------- the datasets
class VideoFrames:
    """The frames of one test video, decoded on demand: iterate for (3, H, W) float32 tensors in
    [0, 1], :meth:`batches` for (B, 3, H, W), :meth:`arrays` for uint8 (H, W, 3); :meth:`to_tensor`
    gives the whole video as the original's (3, T, H, W) (short videos only)."""

    def __init__(self, source: VideoSource, frame_shape: Sequence[int] | None = None):
        self.source = source
        self.frame_shape = None if frame_shape is None else tuple(int(s) for s in frame_shape[:2])
        self._len: int | None = None

    name = property(lambda self: self.source.name)
    path = property(lambda self: self.source.path)

    def __len__(self) -> int:
        if self._len is None:
            self._len = self.source.num_frames()
        return self._len

    @property
    def fps(self) -> float | None:
        return self.source.fps()

    def arrays(self) -> Iterator[np.ndarray]:
        for frame in self.source.frames():
            if self.frame_shape is not None and frame.shape[:2] != self.frame_shape:
                raise DatasetError(_size_message(self.source, frame.shape, self.frame_shape))
            yield frame

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        frames = self.arrays()
        while chunk := list(islice(frames, batch_size)):
            yield to_tensor(np.stack(chunk))  # (B, 3, H, W)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for batch in self.batches(1):
            yield batch[0]

    def to_tensor(self) -> torch.Tensor:
        return torch.cat(list(self.batches(64))).permute(1, 0, 2, 3)  # (3, T, H, W)

    def __repr__(self) -> str:
        return f"VideoFrames({str(self.path)!r})"


class FramesDataset(Dataset):
    """Videos of one split (the original's ``FramesDataset``).

    Training (``is_train``): item ``i`` is two random frames of video ``i`` (with ``id_sampling``: of a
    random video of identity ``i``), sorted in time, then augmented together; ``len`` is the number
    of videos (identities). Testing: item ``i`` is the whole video ``i`` as :class:`VideoFrames`.
    Iterate a test dataset directly (not through a ``DataLoader``): its items are lazy.

    Random draws come from ``numpy`` generators seeded per item from ``random_seed``, the index and
    torch's global generator, which ``DataLoader`` seeds differently in each worker and epoch (so
    ``torch.manual_seed`` makes a run reproducible). ``random_seed`` also seeds the train/test split
    of a root without ``train/`` and ``test/``.
    """

    def __init__(self, root_dir: str | Path, frame_shape: Sequence[int] = (256, 256, 3), id_sampling: bool = False,
                 is_train: bool = True, random_seed: int = 0, pairs_list: str | Path | None = None,
                 augmentation_params: AugmentationParams | dict | None = None):
        self.root_dir = Path(root_dir)
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self.id_sampling = id_sampling
        self.is_train = is_train
        self.random_seed = random_seed
        self.pairs_list = pairs_list
        self.folder, self.entries = find_videos(root_dir, is_train, self.frame_shape, random_seed)
        self.groups: dict[str, list[VideoSource]] = {}
        if is_train and id_sampling:
            _check_id_names(self.entries, self.folder)
            for entry in self.entries:
                self.groups.setdefault(entry.identity, []).append(entry)
            self.videos = list(self.groups)
        else:
            self.videos = [entry.name for entry in self.entries]
        self.transform = Augmentation(augmentation_params) if is_train and augmentation_params is not None else None

    def __len__(self) -> int:
        return len(self.videos)

    def _rng(self, index: int) -> np.random.Generator:
        draw = int(torch.randint(0, 2**62, (), dtype=torch.int64))
        return np.random.default_rng([self.random_seed, index, draw])

    def video(self, index: int) -> VideoFrames:
        """Video ``index`` of the split (any mode), as lazy frames."""
        return VideoFrames(self.entries[index], self.frame_shape)

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        if not self.is_train:
            entry = self.entries[index]
            return {"video": VideoFrames(entry, self.frame_shape), "name": entry.name}
        rng = self._rng(index)
        if self.id_sampling:
            group = self.groups[self.videos[index]]
            entry = group[int(rng.integers(len(group)))]
        else:
            entry = self.entries[index]
        num_frames = entry.num_frames()
        if num_frames < 1:
            raise DatasetError(_no_frames_message(entry))
        frame_idx = np.sort(rng.choice(num_frames, size=2, replace=True))
        frames = entry.read(frame_idx)
        for frame in frames:
            if frame.shape[:2] != self.frame_shape[:2]:
                raise DatasetError(_size_message(entry, frame.shape, self.frame_shape))
        clip = self.transform(np.stack(frames), rng) if self.transform is not None else to_tensor(np.stack(frames))
        return {"source": clip[0], "driving": clip[1], "name": entry.name}


class DatasetRepeater(Dataset):
    """The dataset ``num_repeats`` times over, so one epoch is long enough to be worth a checkpoint."""

    def __init__(self, dataset: Dataset, num_repeats: int = 100):
        if num_repeats < 1:
            raise DatasetError(f"num_repeats must be >= 1, got {num_repeats}; set train_params.num_repeats to 1 or "
                               "more")
        self.dataset = dataset
        self.num_repeats = num_repeats

    def __len__(self) -> int:
        return self.num_repeats * len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return self.dataset[index % len(self.dataset)]


class PairedDataset(Dataset):
    """(source video, driving video) pairs of a test dataset, for cross-video animation.

    With the dataset's ``pairs_list`` (a CSV with columns ``source`` and ``driving`` naming videos
    of the split) the first ``number_of_pairs`` listed pairs; without it, ``number_of_pairs`` random
    pairs (seeded) among the first ``number_of_pairs`` videos, as the original. Items:
    ``{'driving_video', 'driving_name', 'source_video', 'source_name'}``.
    """

    def __init__(self, initial_dataset: FramesDataset, number_of_pairs: int, seed: int = 0):
        self.initial_dataset = initial_dataset
        pairs_list = initial_dataset.pairs_list
        rng = np.random.default_rng(seed)
        if pairs_list is None:
            max_idx = min(number_of_pairs, len(initial_dataset))
            xy = np.mgrid[:max_idx, :max_idx].reshape(2, -1).T
            count = min(xy.shape[0], number_of_pairs)
            self.pairs = [tuple(int(i) for i in p) for p in xy[rng.choice(xy.shape[0], count, replace=False)]]
        else:
            self.pairs = self._read_pairs(Path(pairs_list), number_of_pairs)

    def _read_pairs(self, path: Path, number_of_pairs: int) -> list[tuple[int, int]]:
        videos = self.initial_dataset.videos
        index = {name: i for i, name in enumerate(videos)}
        index.update({Path(name).stem: i for i, name in enumerate(videos) if Path(name).stem not in index})
        try:
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            raise DatasetError(f"cannot read dataset_params.pairs_list {path} ({exc})") from exc
        if rows and not {"source", "driving"} <= set(rows[0]):
            raise DatasetError(f"{path} must be a CSV with columns 'source' and 'driving', got {list(rows[0])}")
        pairs = [(index[r["driving"]], index[r["source"]]) for r in rows
                 if r["driving"] in index and r["source"] in index]
        if len(pairs) < len(rows):
            missing = next(r for r in rows if r["driving"] not in index or r["source"] not in index)
            logger.warning("%s: %d of %d pairs name videos not in %s (e.g. %s -> %s); skipped", path,
                           len(rows) - len(pairs), len(rows), self.initial_dataset.folder, missing["source"],
                           missing["driving"])
        if not pairs:
            raise DatasetError(f"none of the {len(rows)} pairs in {path} name two videos of "
                               f"{self.initial_dataset.folder}; check the pairs list matches this dataset")
        return pairs[:number_of_pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        driving, source = self.pairs[index]
        first = {f"driving_{k}": v for k, v in self.initial_dataset[driving].items()}
        second = {f"source_{k}": v for k, v in self.initial_dataset[source].items()}
        return {**first, **second}


# ----------------------------------------------------------------------------- checks and construction
@dataclass
class DatasetSummary:
    """What :func:`validate_dataset` found: video names and frame counts per split."""

    root: Path
    predefined_split: bool
    videos: dict[str, list[str]] = field(default_factory=dict)
    num_frames: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"{split}: {len(names)} videos, {self.num_frames[split]} frames"
                 for split, names in self.videos.items()]
        how = "" if self.predefined_split else " (random split)"
        return f"{self.root}{how}: " + "; ".join(parts)


def validate_dataset(root_dir: str | Path, frame_shape: Sequence[int], config: Config | None = None, *,
                     id_sampling: bool | None = None, splits: Sequence[str] = ("train", "test"),
                     random_seed: int = 0, check_all_frames: bool = False) -> DatasetSummary:
    """Check a dataset before training or evaluating on it; raise :class:`DatasetError` naming the
    first problem and its fix.

    Checks, per split: at least one video; with ``id_sampling`` (default from ``config``) that training
    names carry an identity (``id#video``); that the architecture of ``config`` can divide the frame
    size; that every entry opens and its first frame decodes (every frame with ``check_all_frames``);
    that frames are ``frame_shape`` (every frame of a frame folder, from its header); that the videos
    are not all single images (a folder of loose frames given as the split, instead of one folder per
    video).
    """
    frame_shape = tuple(int(s) for s in frame_shape)
    if config is not None:
        if id_sampling is None:
            id_sampling = config.dataset_params.id_sampling
        sizes = {frame_shape[0], frame_shape[1]}
        crop = config.dataset_params.augmentation_params.crop_param
        if crop is not None:
            sizes |= {int(crop.size[0]), int(crop.size[1])}
        for size in sorted(sizes):
            try:
                validate_frame_size(config, size)
            except ConfigError as exc:
                raise DatasetError(f"dataset_params.frame_shape {list(frame_shape)}: {exc}") from exc
    root = Path(root_dir)
    summary = DatasetSummary(root, predefined_split=(root / "train").is_dir() or (root / "test").is_dir())
    for split in splits:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        folder, videos = find_videos(root, split == "train", frame_shape, random_seed)
        if id_sampling and split == "train":
            _check_id_names(videos, folder)
        total, mismatched = 0, []
        for video in videos:
            count = video.num_frames()
            if count < 1:
                raise DatasetError(_no_frames_message(video))
            size = video.frame_size()
            if isinstance(video, FrameFolder):
                video.check_frame_sizes(size)
            frames = video.frames() if check_all_frames else islice(video.frames(), 1)
            decoded = 0
            for frame in frames:  # decoding proves the file is readable, not just its header
                decoded += 1
                if frame.shape[:2] != size:
                    raise DatasetError(f"{video.path}: frame {decoded - 1} is {frame.shape[0]}x{frame.shape[1]} "
                                       f"but the video's first frame is {size[0]}x{size[1]}; all frames of a "
                                       "video must have one size")
            if check_all_frames and decoded < count:
                raise DatasetError(f"{video.path}: only {decoded} of {count} frames decode; it looks truncated, "
                                   "re-encode or remove it")
            if size != frame_shape[:2]:
                mismatched.append((video, size))
            total += count
        if mismatched:
            video, size = mismatched[0]
            more = f" ({len(mismatched)} of {len(videos)} videos in {folder} differ)" if len(mismatched) > 1 else ""
            raise DatasetError(_size_message(video, size, frame_shape) + more)
        if len(videos) > 1 and all(isinstance(v, StripImage) and v.num_frames() == 1 for v in videos):
            raise DatasetError(f"every entry of {folder} is a single image ({len(videos)} of them): each is taken "
                               f"as a one-frame video; {LAYOUT}, e.g. {folder}/<video>/0001.png")
        summary.videos[split] = [v.name for v in videos]
        summary.num_frames[split] = total
    return summary


def make_dataset(config: Config, root_dir: str | Path | None = None, is_train: bool = True,
                 validate: bool = True) -> FramesDataset:
    """The training (augmented) or test dataset that ``config.dataset_params`` describes, checked
    with :func:`validate_dataset` first unless ``validate`` is False. ``root_dir`` overrides
    ``dataset_params.root_dir``. Wrap it in :class:`DatasetRepeater` for ``train_params.num_repeats``."""
    params = config.dataset_params
    root = Path(root_dir if root_dir is not None else params.root_dir)
    if validate:
        summary = validate_dataset(root, params.frame_shape, config, splits=("train" if is_train else "test",))
        logger.info("dataset %s", summary)
    return FramesDataset(root, params.frame_shape, id_sampling=params.id_sampling, is_train=is_train,
                         pairs_list=params.pairs_list,
                         augmentation_params=params.augmentation_params if is_train else None)
