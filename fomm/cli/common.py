"""Pieces shared by the subcommands: errors shown as one line, the output summary, argument types, the
options that choose and place a model."""

from __future__ import annotations

import argparse
import ctypes
import errno
import logging
import math
import signal
import sys
import threading
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..api import (
    DEFAULT_MODEL,
    PUBLISHED_HINT,
    describe_model,
    load_model,
    resolve_model,
    select_device,
    training_description,
)
from ..errors import FommError
from ..limits import LimitError, check_frame_size
from ..words import CLI_WORDS, WordedError

if TYPE_CHECKING:
    import numpy as np

    from ..config import Config
    from ..model import FOMM

logger = logging.getLogger(__name__)


class CLIError(Exception):
    """An error shown to the user as one line, with a non-zero exit."""


# Errors whose message is already written for the user.
USER_ERRORS: tuple[type[BaseException], ...] = (FommError,)

# Failures of the machine rather than of fomm or of the command line (a full disk, a read-only or
# forbidden folder): shown as one line with the fix. Any other OSError is a bug and keeps its traceback.
SYSTEM_ERRORS = {
    errno.ENOSPC: "free some space or write the output elsewhere",
    errno.EDQUOT: "free some space or write the output elsewhere",
    errno.EROFS: "write the output to a writable folder",
    errno.EACCES: "check the permissions or choose another path",
    errno.EPERM: "check the permissions or choose another path",
}


@contextmanager
def user_errors():
    """Turn library errors (and a full disk or a permission refused) into :class:`CLIError`: one
    clear line, exit 2. Anything else propagates: a bug, shown with its traceback."""
    try:
        yield
    except CLIError:
        raise
    except USER_ERRORS as exc:
        if isinstance(exc, WordedError):  # a library error that names options: in the CLI's words
            raise CLIError(exc.worded(CLI_WORDS)) from exc
        raise CLIError(str(exc)) from exc
    except OSError as exc:
        if exc.errno not in SYSTEM_ERRORS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        raise CLIError(f"{exc.strerror or exc}{where}; {SYSTEM_ERRORS[exc.errno]}") from exc


class Stopped(KeyboardInterrupt):
    """A termination signal (SIGTERM, SIGHUP) raised as Ctrl-C is, so every command cleans up the same way."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _StopSignal:
    """The last termination signal received, and the :class:`Stopped` raised for it (held weakly).

    A handler's exception can be lost: C code that runs Python code and clears what it raised (a Cython
    module's init while it imports - numpy.random's, lazily, on first use - is one) swallows it, and
    the command would go on to the end and exit 0. A :class:`Stopped` that is propagating is alive; one
    that was swallowed is gone at once. So a signal whose exception died is raised again at the next
    progress callback (:func:`check_stopped`): if the work still goes on, nothing stopped it."""

    signum: int | None = None
    raised: weakref.ref | None = None

    @classmethod
    def received(cls, signum: int) -> Stopped:
        stopped = Stopped(signum)
        cls.signum, cls.raised = signum, weakref.ref(stopped)
        return stopped

    @classmethod
    def lost(cls) -> int | None:
        """The signal whose exception was swallowed, once (then forgotten); None if there is none."""
        if cls.signum is None or cls.raised() is not None:
            return None
        signum, cls.signum, cls.raised = cls.signum, None, None
        return signum

    @classmethod
    def forget(cls) -> None:
        cls.signum = cls.raised = None


def check_stopped() -> None:
    """Raise :class:`Stopped` for a termination signal whose exception some C code swallowed (see
    :class:`_StopSignal`): called by the progress callbacks, i.e. where the work goes on. Main thread only."""
    if threading.current_thread() is threading.main_thread() and (signum := _StopSignal.lost()) is not None:
        raise Stopped(signum)


@contextmanager
def stop_signals_as_interrupt():
    """While the block runs, SIGTERM (a service or ``kill`` stopping the command) and SIGHUP (its
    terminal closed) raise :class:`Stopped` in the main thread, a ``KeyboardInterrupt``: the writers
    discard their partial outputs, the threads are joined, as for Ctrl-C. A signal whose exception was
    swallowed on the way is raised again by the next :func:`check_stopped`. A no-op outside the main
    thread (only it may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise _StopSignal.received(signum)

    _StopSignal.forget()
    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        _StopSignal.forget()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class TqdmProgress:
    """A progress callback for :func:`fomm.pipeline.animate_file`: one tqdm bar per stage (the planning
    passes vanish when done, the animation's stays), notes written above the bars on stderr."""

    TRANSIENT = ("track driving", "track source", "best frame", "smooth motion")

    def __init__(self, desc: str = "animate"):
        self.desc = desc
        self.bars: dict[str, object] = {}

    def __enter__(self) -> TqdmProgress:
        return self

    def __call__(self, event) -> None:
        from tqdm import tqdm

        check_stopped()
        if event.stage == "note":
            tqdm.write(event.note, file=sys.stderr)
            return
        bar = self.bars.get(event.stage)
        if bar is None:
            desc = self.desc if event.stage == "animate" else event.stage
            bar = self.bars[event.stage] = tqdm(total=event.total, unit="frame", desc=desc,
                                                leave=event.stage not in self.TRANSIENT)
        bar.update(event.done - bar.n)
        if event.stage in self.TRANSIENT and event.total is not None and event.done >= event.total:
            bar.close()

    def __exit__(self, *exc) -> None:
        for bar in self.bars.values():
            bar.close()


def device_from_arg(text: str | None):
    """The torch device for ``--device`` (None or 'auto': CUDA, then MPS, then CPU), or a CLIError."""
    try:
        return select_device(text)
    except RuntimeError as exc:  # unavailable (a DeviceError, in the CLI's words) or misspelt (torch's) device
        message = exc.worded(CLI_WORDS) if isinstance(exc, WordedError) else str(exc)
        raise CLIError(f"--device {text}: {message.splitlines()[0]}") from None


def summary(frames: int, seconds: float, path) -> str:
    """The one-line summary that ends every long job."""
    fps = frames / seconds if seconds > 0 else float("inf")
    return f"{frames} frames in {seconds:.1f} s ({fps:.1f} fps) -> {path}"


def _checked(kind, text: str, ok, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _checked(int, text, lambda v: v > 0, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _checked(int, text, lambda v: v >= 0, "an integer >= 0")


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1 to 65535."""
    return _checked(int, text, lambda v: 1 <= v <= 65535, "a port number from 1 to 65535")


def frame_size(text: str) -> int:
    """argparse type: a square side in pixels, >= 1 and within :data:`fomm.limits.FRAME_SIZE`."""
    size = positive_int(text)
    try:
        check_frame_size(size)
    except LimitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return size


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _checked(float, text, lambda v: math.isfinite(v) and v > 0, "a positive number")


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (never nan or inf)."""
    return _checked(float, text, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The options that choose and place the model (shared with ``fomm keypoints``)."""
    p.add_argument("--checkpoint", default=DEFAULT_MODEL, metavar="PATH",
                   help="checkpoint file (.pth.tar, .pth, .safetensors) or a preset name; default: the bundled "
                        "model")
    p.add_argument("--config", metavar="NAME|PATH",
                   help="config preset or YAML; default: the one stored in (or inferred from) the checkpoint")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps; default: CUDA, then MPS, then CPU")
    p.add_argument("--align-corners", action=argparse.BooleanOptionalAction, default=None,
                   help="grid_sample semantics; default from the config (on: as the published checkpoints "
                        "were trained; off: what the original code does on PyTorch >= 1.3)")
    p.add_argument("--size", type=frame_size, metavar="PX",
                   help="square frame size the networks run at; default: the model's training size "
                        "(dataset_params.frame_shape of its config, 256 when the checkpoint says nothing)")
    p.add_argument("--fit", choices=("crop", "pad"), default="crop",
                   help="make non-square frames square by cropping the center (default) or padding with black")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="frames per forward pass (default: 16 on a GPU, 4 on the CPU)")


def add_precision_argument(p: argparse.ArgumentParser, default: str | None = "auto",
                           default_text: str | None = None) -> None:
    """``--precision``, the same in every command: the arithmetic the networks run in (see
    :mod:`fomm.precision`). ``p``: a parser or one of its groups; ``default_text`` says what a ``None``
    default means."""
    from ..precision import PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default=default,
                   help="fp32 (exact), bf16 (CPUs with AVX512-BF16 or AMX, recent GPUs), fp16 (GPUs), or auto: the "
                        f"fastest the device runs natively, fp32 where unsure (default: {default_text or default})")


def load_model_from_args(args: argparse.Namespace, image: np.ndarray | None = None) -> FOMM:
    """The model of ``--checkpoint``/``--config``/``--device``/``--align-corners``. Without
    ``--checkpoint`` the command says on stderr which model it runs (see :func:`announce_model`);
    ``image``: the picture to animate, checked for a face the bundled model was not trained on."""
    device = device_from_arg(args.device)
    model = load_model(args.checkpoint, config=args.config, device=device, align_corners=args.align_corners,
                       size=getattr(args, "size", None))
    announce_model(args, model.config, image)
    return model


def announce_model(args: argparse.Namespace, config: Config, image: np.ndarray | None = None) -> None:
    """Without ``--checkpoint``: one line on stderr naming the model in use, what it was trained on and
    its frame size, and how to use a published checkpoint instead; a second one when ``image`` looks
    like a photograph of a face, which the bundled synthetic model cannot animate well."""
    if args.checkpoint != DEFAULT_MODEL:
        return
    prefix = f"fomm {args.command}:"
    print(f"{prefix} using {describe_model(config, resolve_model(DEFAULT_MODEL))}; {PUBLISHED_HINT}",
          file=sys.stderr)
    if image is not None and looks_like_a_face_photo(image):
        trained_on = training_description(config) or "other pictures"
        print(f"{prefix} note: the source looks like a photograph of a face, but this model was trained on "
              f"{trained_on}: the result will not look right. Use a face model: --checkpoint vox-cpk.pth.tar",
              file=sys.stderr)


def looks_like_a_face_photo(image: np.ndarray) -> bool:
    """True when fomm.crop's face detector finds a face at least an eighth of the image's shorter side
    (a portrait, not a crowd); False when it finds none or cannot run. Detection runs on a copy at most
    320 pixels wide, which keeps it well under a second."""
    try:
        from ..crop import detect_faces

        faces = detect_faces(image, max_side=320, min_size=min(image.shape[:2]) / 8)
    except (ImportError, FommError) as exc:
        logger.debug("no face check: %s", exc)
        return False
    return bool(faces)


M_MMAP_THRESHOLD = -3  # mallopt parameter, from glibc's malloc.h


def steady_memory() -> None:
    """Keep peak memory flat over long videos and allocation cheap (glibc only; a no-op elsewhere).

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so over thousands
    of frames tensors of a few MiB move from fresh mappings to heap arenas that fragment, and the peak
    creeps up (+14% from 60 to 600 frames at 256 px). A fixed threshold above every tensor of a batch
    (256 MiB) keeps them all in the heap from the first batch on: each batch reuses the blocks the
    previous one freed, so the peak stays flat, and no page is faulted in again (measured 10-15% faster
    than small fixed thresholds, which map and zero every large tensor each time).
    This is a process-wide setting, so the command line makes it, never the library.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc
        pass


BACKENDS = ("torch", "onnxruntime")


def add_speed_arguments(p: argparse.ArgumentParser) -> None:
    """How the networks run: the precision and the backend (PyTorch or an ONNX export)."""
    add_precision_argument(p)
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="torch (default) or onnxruntime: run a model exported with `fomm export` (--model DIR; "
                        "needs fomm[onnx])")
    p.add_argument("--model", metavar="DIR", help="the exported model folder for --backend onnxruntime")
    p.add_argument("--compile", action="store_true",
                   help="run the generator compiled by torch.compile (needs a C++ compiler on the CPU): the first "
                        "frames wait a minute or more for the compiler, later ones run faster; pays off on long "
                        "clips with a large model (see the README's speed section)")


def model_from_speed_args(args: argparse.Namespace, image: np.ndarray | None = None):
    """The FOMM model (see :func:`load_model_from_args`), or the exported model's backend for
    ``--backend onnxruntime``."""
    if args.backend == "torch":
        if args.model:
            raise CLIError("--model DIR is the exported model of --backend onnxruntime; use --checkpoint with torch")
        return load_model_from_args(args, image=image)
    if getattr(args, "compile", False):
        raise CLIError("--compile compiles PyTorch models; the onnxruntime backend optimizes the exported graphs "
                       "itself: drop --compile or use --backend torch")
    if not args.model:
        raise CLIError("--backend onnxruntime needs --model DIR (made by fomm export CKPT --format onnx -o DIR)")
    explicit = [flag for flag, on in (("--config", args.config),
                                      ("--align-corners", args.align_corners is not None),
                                      ("--precision", args.precision not in ("auto", "fp32")),
                                      ("--checkpoint", args.checkpoint != DEFAULT_MODEL)) if on]
    if explicit:
        raise CLIError(f"{', '.join(explicit)}: not options of --backend onnxruntime (the exported model fixes "
                       "them); drop them or export again")
    if args.device not in (None, "auto", "cpu"):
        raise CLIError("--backend onnxruntime runs on the CPU here; drop --device or use --backend torch")
    from ..export import load_onnx_backend

    return load_onnx_backend(args.model)


def announce_compile(args: argparse.Namespace) -> None:
    """With ``--compile``: say on stderr that the first frames wait for the compiler."""
    if args.backend == "torch" and getattr(args, "compile", False):
        from ..animation.compiled import NOTICE

        print(f"fomm {args.command}: {NOTICE}", file=sys.stderr)
