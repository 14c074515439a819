"""``torch.compile`` for the animator's per-frame work: the generator's decoding of a batch of
driving keypoints from the cached source features, compiled by inductor for inference.

Inductor with ``freezing`` treats the weights as constants: it folds the batch norms into the
convolutions, prepacks the oneDNN convolutions and fuses the ReLUs, additions and other elementwise
passes into them or into generated C++ loops. The graph is compiled for one batch shape
(``dynamic=False``): a shorter batch (the clip's last frames) is padded to the batch size with
copies of its last item and the padding dropped from the result, so nothing recompiles mid-clip.
Compiling takes a while (once per process; inductor's on-disk cache makes later runs shorter), so it
pays off on long clips only; see the README's speed section for measured numbers.

The keypoint detector stays eager: on vox-256 it is ~3% of a frame's arithmetic, and compiling it
took 42 s for a 1.04x on that 3% (the decoding: 56 s for 1.3x). The source features are computed
once per source, so they stay eager too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch

from ..errors import FommError
from ..models import Keypoints
from ..words import WordedError
from .backend import TorchBackend

logger = logging.getLogger(__name__)

NOTICE = "compiling the generator (torch.compile): the first frames take a minute or more, later ones run faster"


class CompileError(WordedError, RuntimeError):
    """``torch.compile`` cannot run here (no C++ compiler, an unsupported device or model); the option is
    named in the caller's words (``--compile``, ``compile``)."""


def check_compiler(device: torch.device) -> None:
    """Refuse early, with the fix, when inductor has no compiler for ``device``: a C++ compiler on the
    CPU (it generates and builds C++), Triton on a GPU."""
    if device.type == "cpu":
        try:
            from torch._inductor import cpp_builder, exc
        except ImportError:  # a layout this check does not know: the first compiled call tells
            return
        try:
            cpp_builder.get_cpp_compiler()
        except exc.InvalidCxxCompiler:
            raise CompileError(lambda w: f"{w.name('compile')} needs a C++ compiler (torch.compile builds C++ code "
                                         "on the CPU) and none was found: install one (e.g. apt install g++) or set "
                                         f"CXX, or {w.drop('compile')}") from None
    elif device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            raise CompileError(lambda w: f"{w.name('compile')} needs Triton on a GPU (pip install triton), or "
                                         f"{w.drop('compile')}")
    else:
        raise CompileError(lambda w: f"{w.name('compile')} runs on the CPU and CUDA GPUs, not on {device.type}; "
                                     f"{w.drop('compile')}")


def _pad(motion: Any, size: int) -> Any:
    """``motion`` (any family's: Keypoints, Regions) with its batch filled up to ``size`` by copies of
    its last item, rebuilt by its ``cat`` (contiguous: the compiled graph is specialized on shapes and
    strides, so every call must match)."""
    missing = size - len(motion)
    return type(motion).cat([motion, *[motion[-1:]] * max(missing, 0)])


def _cause(exc: BaseException) -> str:
    """The root of a compiler failure in one line (dynamo wraps the compiler's error in its own)."""
    root = getattr(exc, "inner_exception", None) or exc
    while root.__cause__ is not None:
        root = root.__cause__
    lines = str(root).strip().splitlines()
    return f"{type(root).__name__}: {lines[0][:300]}" if lines else type(root).__name__


class CompiledBackend:
    """A :class:`TorchBackend` whose decoding runs compiled (see the module's doc).

    ``batch_size``: the batch the graph is compiled for; smaller batches are padded to it.
    ``freezing``: let inductor treat the weights as constants (fold, prepack); the model's weights
    must then not change while this backend is used (they never do in animation). ``compiler``: the
    ``torch.compile`` backend (inductor; another one, e.g. a function that records the graphs, for tests).
    """

    def __init__(self, backend: TorchBackend, batch_size: int, *, freezing: bool = True,
                 compiler: str | Callable = "inductor"):
        if not isinstance(backend, TorchBackend):
            kind = type(backend).__name__
            raise CompileError(lambda w: f"{w.name('compile')} is an option of PyTorch models; this {kind} is "
                                         f"already compiled by its own runtime: {w.drop('compile')}")
        if compiler == "inductor":
            check_compiler(backend.device)
        self.backend = backend
        self.config = backend.config
        self.device = backend.device
        self.precision = backend.precision
        self.batch_size = batch_size
        options = {"freezing": freezing} if compiler == "inductor" else None
        self._decode = torch.compile(self._decode_eager, backend=compiler, dynamic=False, options=options)
        self.compiled: set[str] = set()  # the functions compiled so far
        self.compile_seconds = 0.0  # time spent in the calls that compiled (compile plus one batch)

    def _decode_eager(self, features: Any, source: torch.Tensor, kp_driving: Any, kp_source: Any) -> torch.Tensor:
        return self.backend.decode(features, source, kp_driving, kp_source)

    def _call(self, name: str, function: Callable, *args: Any):
        if name in self.compiled:
            return function(*args)
        logger.info("compiling %s for batch %d", name, self.batch_size)
        start = time.perf_counter()
        try:
            result = function(*args)
        except (FommError, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # the compiler failed: one line with the cause, the fix is to run eager
            cause = _cause(exc)  # exc is unbound once this block ends
            raise CompileError(lambda w: f"torch.compile failed on the {name} network ({cause}); "
                                         f"{w.drop('compile')}") from exc
        seconds = time.perf_counter() - start
        self.compile_seconds += seconds
        self.compiled.add(name)
        logger.info("compiled %s in %.1f s", name, seconds)
        return result

    # ------------------------------------------------------------------------------ Backend API
    @property
    def family(self) -> str:
        return self.backend.family

    @property
    def modes(self) -> tuple[str, ...]:
        return self.backend.modes

    def check_size(self, size: int) -> None:
        self.backend.check_size(size)

    def normalize(self, *args, **kwargs):
        return self.backend.normalize(*args, **kwargs)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        return self.backend.to_input(images)

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        return self.backend.keypoints(images)  # eager: compiling it does not pay (see the module's doc)

    def encode_source(self, source: torch.Tensor) -> torch.Tensor:
        return self.backend.encode_source(source)  # once per source: not worth a compile

    def decode(self, features: torch.Tensor, source: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints) -> torch.Tensor:
        n = len(kp_driving)
        if n > self.batch_size:  # never from the animator; split rather than compile another shape
            return torch.cat([self.decode(features, source, kp_driving[i : i + self.batch_size], kp_source)
                              for i in range(0, n, self.batch_size)])
        first = features[0] if isinstance(features, (list, tuple)) else features  # MRAA/TPSMM: every scale
        if first.shape[0] != 1 or source.shape[0] != 1 or len(kp_source) != 1:
            raise CompileError("the compiled animator decodes one source at a time (batch 1 source features)")
        prediction = self._call("generator", self._decode, features, source, _pad(kp_driving, self.batch_size),
                                kp_source)
        return prediction[:n]
