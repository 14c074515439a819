"""Streaming animation: a source image driven by a video, frame batches in, frames out (paper Sec. 3.5).

What the original ``demo.py`` did per frame is split by what it depends on:

- the source: its keypoints and the generator's source features, computed once;
- the initial driving frame (relative mode): its keypoints, from the first frame or the best frame;
- every driving frame: its keypoints and the decoded result, computed in batches.

Since a frame's result depends only on that frame, the source and the initial keypoints, every frame
can be generated in the original order once the initial keypoints are known: starting from the best
frame gives the frames the original got by animating forward and backward from it and reversing.

Decoding (and resizing) runs in a background thread ahead of the networks, with a bounded queue, so
memory does not grow with the video's length (:mod:`fomm.io.streaming`).

    model = fomm.load_model("vox-cpk.pth.tar")
    with VideoReader("driving.mp4") as frames, VideoWriter("out.mp4", frames.fps) as writer:
        for image in animate(model, read_image("source.png"), frames):
            writer.write(image)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import FommError
from ..io import VideoReader, prepare_frame, read_image, to_tensor, to_uint8
from ..io.streaming import prefetch
from ..model import FOMM
from ..models import Keypoints
from .backend import Backend, TorchBackend
from .best_frame import pose_distance
from .options import AnimationOptions

logger = logging.getLogger(__name__)

OUTPUTS = ("uint8", "tensor")


class AnimationError(FommError, ValueError):
    """Animation cannot run with these inputs or options; the message says why and what to change."""


@dataclass
class AnimatedFrame:
    """One output frame and what produced it.

    ``image``: (S, S, 3) uint8, or a (3, S, S) float tensor in [0, 1] with ``output="tensor"``.
    ``driving``: the driving frame as the networks saw it, (S, S, 3) uint8.
    ``kp_driving``: the driving frame's keypoints; ``kp_used``: the keypoints the result was
    generated with (equal to ``kp_driving`` in absolute mode). Both (K, 2), normalized [-1, 1].
    """

    index: int
    image: np.ndarray | torch.Tensor
    driving: np.ndarray
    kp_driving: np.ndarray
    kp_used: np.ndarray
    original: np.ndarray | None = None  # the driving frame as read, when it was cropped
    driving_box: Any = None  # its crop (a fomm.crop.Box), when cropped
    present: bool = True  # False: no driving subject in this frame (the source is shown at rest)
    faces: list[AnimatedFrame] = field(default_factory=list)  # each face's own frame (fomm.crop.animate)


@dataclass
class BestFrame:
    """The driving frame to start relative animation from (see :meth:`Animator.find_best_frame`)."""

    index: int
    distance: float | None  # pose distance to the source; 0 is a perfect match (None: a frame given by index)
    keypoints: Keypoints  # batch 1, on the model's device
    num_frames: int  # frames read to find it
    group: int = 0  # the first frame of the run of frames it is the reference of (see fomm.crop.animate)


@dataclass
class FrameBatch:
    """Consecutive frames resized for the networks."""

    start: int  # index of the first frame in the clip
    frames: np.ndarray  # (B, S, S, 3) uint8
    tensor: torch.Tensor  # (B, 3, S, S) float32 in [0, 1], on the CPU (pinned for CUDA)
    shapes: list[tuple[int, int]]  # (H, W) of each frame before resizing
    originals: list | None = None  # the frames as given, when asked for


# ------------------------------------------------------------------------------ frame plumbing
def prepare_input(frame: np.ndarray | torch.Tensor, size: int, fit: str = "crop") -> np.ndarray | torch.Tensor:
    """A frame ready for the networks: uint8 (H, W, 3) of any size -> (size, size, 3) uint8 (cropped or
    padded to a square, then resized); a float tensor (3, size, size) in [0, 1] passes unchanged."""
    if isinstance(frame, torch.Tensor):
        if frame.ndim == 4 and frame.shape[0] == 1:
            frame = frame[0]
        if tuple(frame.shape) != (3, size, size) or not frame.is_floating_point():
            raise AnimationError(f"a tensor frame must be float (3, {size}, {size}) in [0, 1], got "
                                 f"{frame.dtype} {tuple(frame.shape)}; pass uint8 (H, W, 3) arrays to have "
                                 "them resized")
        return frame
    return prepare_frame(frame, size, fit)


def frame_batches(frames: Iterable[np.ndarray | torch.Tensor], size: int, fit: str = "crop",
                  batch_size: int = 8, pin_memory: bool = False, keep_originals: bool = False) -> Iterator[FrameBatch]:
    """Group frames into resized batches of ``batch_size`` (the last one may be shorter)."""
    if batch_size < 1:
        raise AnimationError(f"batch_size must be at least 1, got {batch_size}")
    start, prepared, shapes, originals = 0, [], [], []

    def make() -> FrameBatch:
        if isinstance(prepared[0], torch.Tensor):
            tensor = torch.stack([p.detach().float().cpu() for p in prepared])
            uint8 = to_uint8(tensor)
        else:
            uint8 = np.stack(prepared)
            tensor = to_tensor(uint8)
        if pin_memory:
            tensor = tensor.pin_memory()
        return FrameBatch(start, uint8, tensor, list(shapes), list(originals) if keep_originals else None)

    for frame in frames:
        shapes.append(tuple(frame.shape[-2:]) if isinstance(frame, torch.Tensor) else frame.shape[:2])
        prepared.append(prepare_input(frame, size, fit))
        if keep_originals:
            originals.append(frame)
        if len(prepared) == batch_size:
            yield make()
            start, prepared, shapes, originals = start + batch_size, [], [], []
    if prepared:
        yield make()


def keypoints_to_pixels(kp: np.ndarray | torch.Tensor, shape: tuple[int, int], size: int,
                        fit: str = "crop") -> np.ndarray:
    """Normalized keypoints (..., 2) of a frame prepared by ``prepare_frame(frame, size, fit)`` ->
    pixel coordinates (x, y) in the original (H, W) frame.

    Normalized -1 and 1 are the edges of the model's square frame (as in the original visualizer);
    pixel coordinates are those of numpy indexing: integer x is the center of pixel column x, so the
    frame spans -0.5 .. W - 0.5.
    """
    kp = kp.detach().cpu().double().numpy() if isinstance(kp, torch.Tensor) else np.asarray(kp, np.float64)
    height, width = shape
    side = min(height, width) if fit == "crop" else max(height, width)
    if fit == "crop":  # the square's top-left corner inside the frame
        offset = np.array([(width - side) // 2, (height - side) // 2], np.float64)
    else:  # the frame's top-left corner inside the padded square, as a negative offset
        offset = -np.array([(side - width) // 2, (side - height) // 2], np.float64)
    return (kp + 1) / 2 * side + offset - 0.5


@dataclass
class FrameKeypoints:
    """The keypoints of one frame: ``value`` (K, 2) normalized [-1, 1] in the model's square frame,
    ``jacobian`` (K, 2, 2) or None, ``pixels`` (K, 2) (x, y) in the original frame (see
    :func:`keypoints_to_pixels`), ``shape`` the original (H, W), and the original ``frame`` if kept."""

    index: int
    value: np.ndarray
    jacobian: np.ndarray | None
    pixels: np.ndarray
    shape: tuple[int, int]
    frame: np.ndarray | None = None


def as_backend(model: FOMM | Backend, precision: str | torch.dtype | None = None, channels_last: bool | None = None,
               allow_slow: bool = False) -> Backend:
    """``model`` as a :class:`Backend`: a FOMM gets a :class:`TorchBackend` with these options
    (``precision`` None: fp32); a backend (e.g. an exported model) is used as it is, and the options
    must then be left unset."""
    if isinstance(model, FOMM):
        return TorchBackend(model, precision=precision or "fp32", channels_last=channels_last, allow_slow=allow_slow)
    if isinstance(model, torch.nn.Module) and hasattr(model, "family"):  # another model family
        from ..families import backend_for

        return backend_for(model, precision=precision or "fp32", channels_last=channels_last, allow_slow=allow_slow)
    if not isinstance(model, Backend):
        raise AnimationError(f"expected a FOMM model or a backend, got {type(model).__name__}; load one with "
                             "fomm.load_model")
    if channels_last is not None or precision not in (None, model.precision):
        raise AnimationError(f"precision and channels_last are options of PyTorch models; this "
                             f"{type(model).__name__} runs at {model.precision} as exported")
    return model


def default_batch_size(device: torch.device) -> int:
    """Frames per forward pass: on a CPU, 4 already keeps the cores busy (larger batches only add
    memory: about 75 MB per frame at 256 px); a GPU wants more work per launch."""
    return 4 if device.type == "cpu" else 16


def detect_keypoints(model: FOMM | Backend, frames: Iterable, *, size: int | None = None, fit: str = "crop",
                     batch_size: int | None = None, keep_frames: bool = False,
                     channels_last: bool | None = None, precision: str | torch.dtype | None = None,
                     allow_slow: bool = False) -> Iterator[FrameKeypoints]:
    """The keypoints of every frame, detected in batches (frames decoded in a background thread).
    ``precision``/``allow_slow``: see :mod:`fomm.precision`."""
    backend = as_backend(model, precision, channels_last, allow_slow=allow_slow)
    size = int(size or backend.config.frame_size)
    backend.check_size(size)
    batch_size = batch_size or default_batch_size(backend.device)
    batches = frame_batches(frames, size, fit, batch_size, backend.device.type == "cuda", keep_originals=keep_frames)
    with closing(prefetch(batches, name="fomm-decode")) as prefetched:  # joined before ``frames`` can close
        for batch in prefetched:
            with torch.inference_mode():
                kp = backend.keypoints(backend.to_input(batch.tensor))
                value = kp.value.float().cpu().numpy()
                jacobian = None if kp.jacobian is None else kp.jacobian.float().cpu().numpy()
            for i, shape in enumerate(batch.shapes):
                yield FrameKeypoints(batch.start + i, value[i], None if jacobian is None else jacobian[i],
                                     keypoints_to_pixels(value[i], shape, size, fit), shape,
                                     batch.originals[i] if keep_frames else None)


# ---------------------------------------------------------------------------------- the animator
@dataclass
class PreparedSource:
    """A source image as the networks need it, computed once: ``frame`` (S, S, 3) uint8 as the networks
    saw it, ``image`` (1, 3, S, S) on the device, its ``motion`` (batch 1) and the generator's ``features``."""

    frame: np.ndarray
    image: torch.Tensor
    motion: Any
    features: Any


@dataclass
class AnimatedBatch:
    """The frames of one batch and the reference motion they were animated from (relative mode), which
    the next batch of the same clip must use too."""

    frames: list[AnimatedFrame]
    initial: Any


class Animator:
    """Animates one source image with any number of driving clips, through the model's backend.

    ``source``: uint8 (H, W, 3) (resized like the driving frames), a float tensor (3, S, S) in [0, 1],
    or an image path. ``options``: an :class:`~fomm.animation.options.AnimationOptions` (the animator
    uses mode, adapt scale, size, fit, batch size and how the networks run); keyword arguments
    override single options (``Animator(model, source, mode="absolute")``). ``model``: a loaded model
    of any family, or a ready backend such as an exported model (:class:`fomm.export.OnnxBackend`).

    :meth:`animate_batch` is the core (prepared frames in, animated frames out, no threads);
    :meth:`stream` wraps it with decoding in a background thread and batching.
    """

    def __init__(self, model: FOMM | Backend, source: np.ndarray | torch.Tensor | str | os.PathLike,
                 options: AnimationOptions | None = None, **overrides: Any):
        options = (options or AnimationOptions()).replace(**overrides) if overrides else (options or AnimationOptions())
        self.options = options
        self.model = model
        self.backend = as_backend(model, options.precision if options.precision != "fp32" else None,
                                  options.channels_last, options.allow_slow)
        options.check_model(self.backend.modes, self.backend.family)
        self.mode = options.resolved_mode(self.backend.modes)
        self.adapt_scale = bool(options.adapt_scale if options.adapt_scale is not None
                                else self.mode == "relative" and getattr(self.backend, "default_adapt_scale", False))
        self.size = int(options.size or self.backend.config.frame_size)
        self.backend.check_size(self.size)
        self.fit = options.fit
        self.device = self.backend.device
        self.batch_size = options.batch_size or default_batch_size(self.device)
        self.prepared = self.prepare_source(source)
        if options.compile:  # after the source's setup (eager, once): the first batch compiles
            from .compiled import CompiledBackend

            self.backend = CompiledBackend(self.backend, self.batch_size)

    # ------------------------------------------------------------------------------- the source
    def prepare_source(self, source: np.ndarray | torch.Tensor | str | os.PathLike) -> PreparedSource:
        """Resize ``source`` like a driving frame and compute what every frame reuses: its motion and
        the generator's source features."""
        if isinstance(source, (str, os.PathLike)):
            source = read_image(Path(source))
        prepared = prepare_input(source, self.size, self.fit)
        frame = to_uint8(prepared) if isinstance(prepared, torch.Tensor) else prepared
        tensor = prepared[None] if isinstance(prepared, torch.Tensor) else to_tensor(prepared)
        with torch.inference_mode():
            image = self.backend.to_input(tensor)  # (1, 3, S, S)
            return PreparedSource(frame, image, self.backend.keypoints(image), self.backend.encode_source(image))

    @property
    def source_frame(self) -> np.ndarray:
        return self.prepared.frame

    @property
    def source(self) -> torch.Tensor:
        return self.prepared.image

    @property
    def kp_source(self):
        return self.prepared.motion

    @property
    def source_features(self):
        return self.prepared.features

    @property
    def kp_source_array(self) -> np.ndarray:
        """The source's keypoints, (K, 2) normalized."""
        return self.kp_source.value[0].float().cpu().numpy()

    # -------------------------------------------------------------------------- keypoints only
    def _batches(self, frames: Iterable) -> closing[Iterator[FrameBatch]]:
        """Resized batches, decoded and prepared in a background thread; a context manager, whose end
        joins the thread (so ``frames`` may be closed after it, whatever happened)."""
        return closing(prefetch(self.frame_batches(frames), name="fomm-decode"))

    def frame_batches(self, frames: Iterable) -> Iterator[FrameBatch]:
        """``frames`` resized for the networks, in batches of ``batch_size`` (no thread)."""
        return frame_batches(frames, self.size, self.fit, self.batch_size, self.device.type == "cuda")

    def _to_device(self, batch: FrameBatch) -> torch.Tensor:
        return self.backend.to_input(batch.tensor)

    def find_best_frame(self, frames: Iterable) -> BestFrame:
        """One pass over ``frames`` computing keypoints only (no frame is kept): the frame whose
        normalized keypoint pose is closest to the source's (the first one on ties)."""
        best: BestFrame | None = None
        count = 0
        with self._batches(frames) as batches:
            for batch in batches:
                with torch.inference_mode():
                    kp = self.backend.keypoints(self._to_device(batch))
                    distances = pose_distance(self.kp_source.value.float(), kp.value.float())
                    i = int(torch.argmin(distances))
                    if best is None or float(distances[i]) < best.distance:
                        best = BestFrame(batch.start + i, float(distances[i]), kp[i : i + 1], 0)
                count = batch.start + len(batch.frames)
        if best is None:
            raise AnimationError("the driving video has no frames")
        best.num_frames = count
        logger.info("best frame: %d of %d (distance %.4f)", best.index, count, best.distance)
        return best

    def keypoints_at(self, frames: Iterable, index: int) -> Any:
        """Keypoints (batch 1) of frame ``index`` of ``frames``; earlier frames are skipped unresized."""
        if index < 0:
            raise AnimationError(f"frame index must be >= 0, got {index}")
        count = 0
        for count, frame in enumerate(frames, 1):  # noqa: B007 (count is used after the loop)
            if count - 1 == index:
                tensor = prepare_input(frame, self.size, self.fit)
                tensor = tensor[None] if isinstance(tensor, torch.Tensor) else to_tensor(tensor)
                with torch.inference_mode():
                    return self.backend.keypoints(self.backend.to_input(tensor))
        raise AnimationError(f"frame {index} is past the end of the driving video ({count} frames); "
                             f"choose a frame between 0 and {max(count - 1, 0)}")

    # ----------------------------------------------------------------------------- animation
    def driving_motion(self, batch: FrameBatch) -> Any:
        """The motion (keypoints, ...) of a batch of prepared frames, on the device."""
        with torch.inference_mode():
            return self.backend.keypoints(self._to_device(batch))

    def animate_batch(self, batch: FrameBatch, initial: Any = None, *, source: PreparedSource | None = None,
                      output: str = "uint8", motion: Any = None) -> AnimatedBatch:
        """Animate one batch of prepared frames (see :func:`frame_batches`), in the calling thread.

        ``initial``: relative mode's reference motion (batch 1); None: this batch's first frame, as at
        the start of a clip. The result carries the reference used, for the next batch. ``source``:
        another prepared source than the animator's own (e.g. one frame of a source video).
        ``motion``: the batch's driving motion when already known (e.g. smoothed over time,
        :mod:`fomm.crop.smooth`); None: detected from the frames.
        """
        if output not in OUTPUTS:
            raise AnimationError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        source = source or self.prepared
        relative = self.mode == "relative"
        with torch.inference_mode():
            kp_driving = self.backend.keypoints(self._to_device(batch)) if motion is None else motion
            if relative:
                initial = kp_driving[:1] if initial is None else initial.to(self.device, source.motion.value.dtype)
            kp_used = self.backend.normalize(source.motion, kp_driving, initial, mode=self.mode,
                                             adapt_scale=self.adapt_scale)
            prediction = self.backend.decode(source.features, source.image, kp_used, source.motion)
            images = to_uint8(prediction) if output == "uint8" else prediction
            kp_driving_np = kp_driving.value.float().cpu().numpy()
            kp_used_np = kp_used.value.float().cpu().numpy()
        frames = [AnimatedFrame(batch.start + i, images[i] if output == "uint8" else images[i].clone(),
                                batch.frames[i], kp_driving_np[i], kp_used_np[i])  # .clone(): not an inference tensor
                  for i in range(len(batch.frames))]
        return AnimatedBatch(frames, initial)

    def stream(self, frames: Iterable, kp_driving_initial: Any = None,
               output: str = "uint8") -> Iterator[AnimatedFrame]:
        """Animate ``frames`` (uint8 (H, W, 3) arrays of any size, or float (3, S, S) tensors),
        yielding one :class:`AnimatedFrame` per driving frame, in order, as soon as its batch is done.

        ``kp_driving_initial``: relative mode's reference keypoints (e.g. ``find_best_frame(...)
        .keypoints``); by default the first frame's.
        """
        if output not in OUTPUTS:
            raise AnimationError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        initial, produced = kp_driving_initial, 0
        with self._batches(frames) as batches:  # the decode thread is joined when this generator ends
            for batch in batches:
                animated = self.animate_batch(batch, initial, output=output)
                initial = animated.initial
                yield from animated.frames
                produced += len(batch.frames)
        if produced == 0:
            raise AnimationError("the driving video has no frames")


Driving = Iterable | str | os.PathLike | Callable[[], Any]


def _open(driving: Driving):
    """A fresh context manager yielding an iterable of frames for one pass over ``driving``."""
    if isinstance(driving, (str, os.PathLike)):
        return VideoReader(driving)
    if callable(driving):
        opened = driving()
        return opened if hasattr(opened, "__enter__") else nullcontext(opened)
    return nullcontext(driving)


def animate(model: FOMM | Backend, source: np.ndarray | torch.Tensor | str | os.PathLike, driving: Driving,
            options: AnimationOptions | None = None, *, output: str = "uint8",
            **overrides: Any) -> Iterator[np.ndarray | torch.Tensor]:
    """Yield the animated frames of ``source`` driven by ``driving``, in order (see :class:`Animator`).

    ``driving``: an iterable of frames, a video path, or a callable returning a fresh iterable.
    ``options`` (or single options as keywords: ``mode="absolute"``, ``best_frame="auto"``, ...): see
    :class:`~fomm.animation.options.AnimationOptions`. A best frame reads the driving video twice
    (keypoints only, then animation), so ``driving`` must then be a path, a sequence or a callable, not
    an iterator. Options are checked and the source is encoded before this returns.
    """
    options = (options or AnimationOptions()).replace(**overrides) if overrides else (options or AnimationOptions())
    if options.best_frame is not None and isinstance(driving, Iterator):
        raise AnimationError("best_frame reads the driving video twice: pass a path, a sequence or a "
                             "callable returning a fresh iterator, not a one-shot iterator")
    if output not in OUTPUTS:
        raise AnimationError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    animator = Animator(model, source, options)
    return _animate(animator, driving, options.best_frame, output)


def _animate(animator: Animator, driving: Driving, best_frame: None | str | int, output: str) -> Iterator:
    initial = None
    if best_frame == "auto":
        with _open(driving) as frames:
            initial = animator.find_best_frame(frames).keypoints
    elif best_frame is not None:
        with _open(driving) as frames:
            initial = animator.keypoints_at(frames, best_frame)
    with _open(driving) as frames, closing(animator.stream(frames, initial, output=output)) as stream:
        for frame in stream:  # closing: the stream's decode thread ends before ``frames`` closes
            yield frame.image
