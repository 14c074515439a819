"""``Animator(compile=True)`` / ``fomm animate --compile``: compiled frames equal eager ones, the
decoding compiles once whatever the batch, and a compiler that cannot run is one clear error.

Inductor itself is slow to compile on a small CPU (the golden tiny model's decoding takes 30-60 s
cold, a few seconds from inductor's on-disk cache), so one test runs it for real; the others trace
the same graph with a recording compiler (seconds) to check what the graph is given.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fomm
from fomm.animation import Animator
from fomm.animation.backend import TorchBackend
from fomm.animation.compiled import CompiledBackend, CompileError
from fomm.cli import main
from fomm.words import CLI_WORDS
from tests.media import make_frame_folder, make_image

SIZE = 128  # the golden tiny checkpoint's frame size
BATCH = 4
INDUCTOR_ATOL = 1e-5  # generated C++ loops sum in another order than oneDNN; measured 6e-8


@pytest.fixture(scope="module")
def tiny(golden):
    return fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")


def _inputs(n: int = 6):
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(3, SIZE, SIZE, generator=generator)
    return source, [torch.rand(3, SIZE, SIZE, generator=generator) for _ in range(n)]


def _frames(model, source, driving, **options) -> torch.Tensor:
    animator = Animator(model, source, size=SIZE, batch_size=BATCH, **options)
    return torch.stack([frame.image for frame in animator.stream(driving, output="tensor")])


class Recorder:
    """A torch.compile backend that runs the traced graph as it is and records each graph's inputs."""

    def __init__(self):
        self.graphs: list[list[tuple[int, ...]]] = []

    def __call__(self, graph, example_inputs):
        self.graphs.append([tuple(t.shape) for t in example_inputs if isinstance(t, torch.Tensor)])
        return graph.forward


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_decoding_compiles_once_and_frames_equal_eager(tiny, mode):
    """6 frames at batch 4: the short last batch is padded to the batch the graph was compiled for,
    so the generator compiles once."""
    source, driving = _inputs(6)
    eager = _frames(tiny, source, driving, mode=mode)
    recorder = Recorder()
    animator = Animator(tiny, source, size=SIZE, batch_size=BATCH, mode=mode)
    animator.backend = CompiledBackend(animator.backend, BATCH, compiler=recorder)
    compiled = torch.stack([frame.image for frame in animator.stream(driving, output="tensor")])
    assert len(recorder.graphs) == 1 and animator.backend.compiled == {"generator"}
    assert (BATCH, 10, 2) in recorder.graphs[0] and (BATCH, 10, 2, 2) in recorder.graphs[0]
    assert compiled.shape == eager.shape == (6, 3, SIZE, SIZE)
    torch.testing.assert_close(compiled, eager, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_inductor_frames_match_eager(tiny, golden):
    """The real thing: inductor with freezing (batch norms folded, convolutions prepacked). A second
    model of the same architecture reuses the compiled code and must still get its own weights'
    frames, not the first model's frozen ones."""
    source, driving = _inputs(6)
    eager = _frames(tiny, source, driving)
    animator = Animator(tiny, source, size=SIZE, batch_size=BATCH, compile=True)
    compiled = torch.stack([frame.image for frame in animator.stream(driving, output="tensor")])
    assert animator.backend.compiled == {"generator"}
    torch.testing.assert_close(compiled, eager, atol=INDUCTOR_ATOL, rtol=0)

    other = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")
    with torch.no_grad():
        for param in other.parameters():
            param.mul_(1.05)
    other_eager = _frames(other, source, driving)
    assert (other_eager - eager).abs().max() > 100 * INDUCTOR_ATOL
    torch.testing.assert_close(_frames(other, source, driving, compile=True), other_eager, atol=INDUCTOR_ATOL, rtol=0)


def test_no_cxx_compiler_is_one_clear_error(tiny, monkeypatch, tmp_path, capsys):
    from torch._inductor import config

    monkeypatch.setattr(config.cpp, "cxx", (None, str(tmp_path / "no-such-c++")))
    source, _ = _inputs(0)
    with pytest.raises(CompileError, match="^compile needs a C\\+\\+ compiler.*or leave compile unset$"):
        Animator(tiny, source, size=SIZE, compile=True)
    image = make_image(tmp_path / "source.png", size=(64, 64))
    frames = make_frame_folder(tmp_path / "frames", n=2, size=(64, 64))
    out = tmp_path / "out.mp4"
    assert main(["animate", str(image), str(frames), "-o", str(out), "--compile"]) == 2
    err = capsys.readouterr().err
    assert "first frames take a minute" in err  # the notice, then the error in one line
    assert err.strip().splitlines()[-1].startswith("fomm animate: error: --compile needs a C++ compiler")
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_a_failing_compiler_is_one_clear_error(tiny):
    def broken(graph, example_inputs):
        raise RuntimeError("cannot build this\nmore details")

    backend = CompiledBackend(TorchBackend(tiny), BATCH, compiler=broken)
    source = backend.to_input(torch.rand(1, 3, SIZE, SIZE))
    with torch.inference_mode():
        kp_source, features = backend.keypoints(source), backend.encode_source(source)
        with pytest.raises(CompileError, match=r"torch.compile failed on the generator network \(RuntimeError: "
                                               r"cannot build this\); leave compile unset$") as info:
            backend.decode(features, source, backend.keypoints(backend.to_input(torch.rand(2, 3, SIZE, SIZE))),
                           kp_source)
    assert "\n" not in str(info.value) and info.value.worded(CLI_WORDS).endswith("this); drop --compile")


def test_compile_is_for_pytorch_models(tiny, tmp_path, capsys):
    with pytest.raises(CompileError, match="option of PyTorch models"):
        CompiledBackend(np.zeros(1), BATCH)  # type: ignore[arg-type]
    image = make_image(tmp_path / "source.png", size=(64, 64))
    frames = make_frame_folder(tmp_path / "frames", n=1, size=(64, 64))
    assert main(["animate", str(image), str(frames), "-o", str(tmp_path / "x.mp4"), "--compile",
                 "--backend", "onnxruntime", "--model", str(tmp_path)]) == 2
    assert "--compile compiles PyTorch models" in capsys.readouterr().err
