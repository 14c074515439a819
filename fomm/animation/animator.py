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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import validate_frame_size
from ..errors import FommError
from ..io import VideoReader, prepare_frame, read_image, to_tensor, to_uint8
from ..io.streaming import prefetch
from ..model import FOMM
from ..models import Keypoints
from .backend import Backend, TorchBackend
from .best_frame import pose_distance
from .normalize import movement_scale, normalize_kp

logger = logging.getLogger(__name__)

MODES = ("relative", "absolute")
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


@dataclass
class BestFrame:
    """The driving frame to start relative animation from (see :meth:`Animator.find_best_frame`)."""

    index: int
    distance: float  # pose distance to the source; 0 is a perfect match
    keypoints: Keypoints  # batch 1, on the model's device
    num_frames: int  # frames read to find it


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
    validate_frame_size(backend.config, size)
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
class Animator:
    """Animates one source image with any number of driving clips.

    ``source``: uint8 (H, W, 3) (resized like the driving frames), a float tensor (3, S, S) in
    [0, 1], or an image path. ``mode``: ``"relative"`` (the driving motion relative to its initial
    frame is transferred to the source pose; what the paper's demo uses) or ``"absolute"`` (the
    driving keypoints are used as they are). ``adapt_scale`` scales relative motion by the ratio of
    the keypoint hulls (relative mode only). ``batch_size``: frames per forward pass (default: 4 on
    a CPU, 16 on a GPU). ``size``: the square frame the networks run at, by
    default the model's training size (``config.dataset_params.frame_shape``). ``fit``: ``"crop"``
    (center square) or ``"pad"`` (black borders) for non-square frames. ``channels_last`` (default on
    CPU and CUDA) moves the model's weights to that memory layout, in place: the same values, with
    convolutions that need no layout conversion (about 1.4x faster on a CPU). ``precision``
    (``fp32``, ``bf16``, ``fp16`` or ``auto``; default fp32) and ``allow_slow``: see
    :class:`~fomm.animation.backend.TorchBackend`. ``model`` may also be a ready backend, such as an
    exported model (:class:`fomm.export.OnnxBackend`). ``compile``: run the generator's per-frame decoding
    compiled by ``torch.compile`` (:mod:`fomm.animation.compiled`): the first batch waits for the
    compiler, the later ones run faster; pays off on long clips with a large model only.
    """

    def __init__(self, model: FOMM | Backend, source: np.ndarray | torch.Tensor | str | os.PathLike, *,
                 mode: str = "relative", adapt_scale: bool = False, size: int | None = None,
                 fit: str = "crop", batch_size: int | None = None, channels_last: bool | None = None,
                 precision: str | torch.dtype | None = None, allow_slow: bool = False, compile: bool = False):
        if mode not in MODES:
            raise AnimationError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if adapt_scale and mode != "relative":
            raise AnimationError("adapt_scale scales relative motion; it has no effect in absolute mode")
        if batch_size is not None and batch_size < 1:
            raise AnimationError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.backend = as_backend(model, precision, channels_last, allow_slow)
        self.mode = mode
        self.adapt_scale = adapt_scale
        self.size = int(size or self.backend.config.frame_size)
        validate_frame_size(self.backend.config, self.size)
        self.fit = fit
        self.device = self.backend.device
        self.batch_size = batch_size or default_batch_size(self.device)
        if isinstance(source, (str, os.PathLike)):
            source = read_image(Path(source))
        prepared = prepare_input(source, self.size, fit)
        self.source_frame = to_uint8(prepared) if isinstance(prepared, torch.Tensor) else prepared
        tensor = prepared[None] if isinstance(prepared, torch.Tensor) else to_tensor(prepared)
        with torch.inference_mode():
            self.source = self.backend.to_input(tensor)  # (1, 3, S, S)
            self.kp_source = self.backend.keypoints(self.source)
            self.source_features = self.backend.encode_source(self.source)
        if compile:  # after the source's setup (eager, once): the first batch compiles
            from .compiled import CompiledBackend

            self.backend = CompiledBackend(self.backend, self.batch_size)

    # -------------------------------------------------------------------------- keypoints only
    def _batches(self, frames: Iterable) -> closing[Iterator[FrameBatch]]:
        """Resized batches, decoded and prepared in a background thread; a context manager, whose end
        joins the thread (so ``frames`` may be closed after it, whatever happened)."""
        pin = self.device.type == "cuda"
        return closing(prefetch(frame_batches(frames, self.size, self.fit, self.batch_size, pin), name="fomm-decode"))

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

    def keypoints_at(self, frames: Iterable, index: int) -> Keypoints:
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
    def stream(self, frames: Iterable, kp_driving_initial: Keypoints | None = None,
               output: str = "uint8") -> Iterator[AnimatedFrame]:
        """Animate ``frames`` (uint8 (H, W, 3) arrays of any size, or float (3, S, S) tensors),
        yielding one :class:`AnimatedFrame` per driving frame, in order, as soon as its batch is done.

        ``kp_driving_initial``: relative mode's reference keypoints (e.g. ``find_best_frame(...)
        .keypoints``); by default the first frame's.
        """
        if output not in OUTPUTS:
            raise AnimationError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        relative = self.mode == "relative"
        initial, scale = None, 1.0
        if kp_driving_initial is not None and relative:
            initial = kp_driving_initial.to(self.device, self.kp_source.value.dtype)
            scale = movement_scale(self.kp_source, initial) if self.adapt_scale else 1.0
        produced = 0
        with self._batches(frames) as batches:  # the decode thread is joined when this generator ends
            for batch in batches:
                with torch.inference_mode():
                    kp_driving = self.backend.keypoints(self._to_device(batch))
                    if relative and initial is None:
                        initial = kp_driving[:1]
                        scale = movement_scale(self.kp_source, initial) if self.adapt_scale else 1.0
                    kp_used = normalize_kp(self.kp_source, kp_driving, initial, use_relative_movement=relative,
                                           use_relative_jacobian=relative, scale=scale) if relative else kp_driving
                    prediction = self.backend.decode(self.source_features, self.source, kp_used, self.kp_source)
                    images = to_uint8(prediction) if output == "uint8" else prediction
                    kp_driving_np = kp_driving.value.float().cpu().numpy()
                    kp_used_np = kp_used.value.float().cpu().numpy()
                for i in range(len(batch.frames)):
                    # .clone(): a normal tensor, not an inference one
                    image = images[i] if output == "uint8" else images[i].clone()
                    yield AnimatedFrame(batch.start + i, image, batch.frames[i], kp_driving_np[i], kp_used_np[i])
                produced += len(batch.frames)
        if produced == 0:
            raise AnimationError("the driving video has no frames")

    @property
    def kp_source_array(self) -> np.ndarray:
        """The source's keypoints, (K, 2) normalized."""
        return self.kp_source.value[0].float().cpu().numpy()


Driving = Iterable | str | os.PathLike | Callable[[], Any]


def _open(driving: Driving):
    """A fresh context manager yielding an iterable of frames for one pass over ``driving``."""
    if isinstance(driving, (str, os.PathLike)):
        return VideoReader(driving)
    if callable(driving):
        opened = driving()
        return opened if hasattr(opened, "__enter__") else nullcontext(opened)
    return nullcontext(driving)


def animate(model: FOMM | Backend, source: np.ndarray | torch.Tensor | str | os.PathLike, driving: Driving, *,
            mode: str = "relative", adapt_scale: bool = False, best_frame: None | str | int = None,
            batch_size: int | None = None, size: int | None = None, fit: str = "crop",
            output: str = "uint8", precision: str | torch.dtype | None = None,
            allow_slow: bool = False, compile: bool = False) -> Iterator[np.ndarray | torch.Tensor]:
    """Yield the animated frames of ``source`` driven by ``driving``, in order (see :class:`Animator`).

    ``driving``: an iterable of frames, a video path, or a callable returning a fresh iterable.
    ``best_frame``: None (relative motion from the first frame), ``"auto"`` (from the frame whose pose
    best matches the source's) or a frame index. Both read the driving video twice (keypoints only,
    then animation), so ``driving`` must then be a path, a sequence or a callable, not an iterator.
    ``precision``, ``allow_slow``, ``compile``: see :class:`Animator`.
    Options are checked and the source is encoded before this returns.
    """
    if best_frame is not None:
        if mode != "relative":
            raise AnimationError("best_frame picks the reference frame of relative motion; it has no effect "
                                 "in absolute mode")
        if best_frame != "auto" and (isinstance(best_frame, bool) or not isinstance(best_frame, int)):
            raise AnimationError(f"best_frame must be None, 'auto' or a frame index, got {best_frame!r}")
        if isinstance(driving, Iterator):
            raise AnimationError("best_frame reads the driving video twice: pass a path, a sequence or a "
                                 "callable returning a fresh iterator, not a one-shot iterator")
    if output not in OUTPUTS:
        raise AnimationError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    animator = Animator(model, source, mode=mode, adapt_scale=adapt_scale, size=size, fit=fit,
                        batch_size=batch_size, precision=precision, allow_slow=allow_slow, compile=compile)
    return _animate(animator, driving, best_frame, output)


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
