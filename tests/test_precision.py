"""Reduced precision: which precision each device gets, the refusal of emulated bf16/fp16, the float32
islands inside the networks, and every precision's frames against the authors' fp32 outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fomm
import fomm.precision as precision
from fomm.animation import Animator, normalize_kp
from fomm.animation.backend import TorchBackend
from fomm.models import Keypoints
from fomm.precision import CpuFeatures, PrecisionError, resolve_precision

PLAIN = CpuFeatures("Plain CPU", avx512_bf16=False, amx_bf16=False, amx_fp16=False)
AMX = CpuFeatures("AMX CPU", avx512_bf16=True, amx_bf16=True, amx_fp16=False)


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to run on a CPU with the given features."""
    def use(features: CpuFeatures) -> None:
        monkeypatch.setattr(precision, "cpu_features", lambda: features)
        monkeypatch.delenv(precision.ALLOW_SLOW_ENV, raising=False)
    return use


def test_auto_is_fp32_without_bf16_and_bf16_with_it(cpu):
    cpu(PLAIN)
    assert resolve_precision("auto", "cpu") == torch.float32
    cpu(AMX)
    assert resolve_precision("auto", "cpu") == torch.bfloat16
    assert resolve_precision("bf16", "cpu") == torch.bfloat16


@pytest.mark.parametrize("name, flag", [("bf16", "avx512_bf16"), ("fp16", "amx_fp16")])
def test_emulated_precision_is_refused_with_the_missing_flags_and_the_fix(cpu, name, flag):
    cpu(PLAIN)
    with pytest.raises(PrecisionError) as info:
        resolve_precision(name, "cpu")
    message = str(info.value)
    assert "Plain CPU" in message and flag in message and "fp32 or auto" in message
    assert precision.ALLOW_SLOW_ENV in message and "allow_slow=True" in message


def test_escape_hatches_allow_emulated_precision(cpu, monkeypatch):
    cpu(PLAIN)
    assert resolve_precision("bf16", "cpu", allow_slow=True) == torch.bfloat16
    monkeypatch.setenv(precision.ALLOW_SLOW_ENV, "1")
    assert resolve_precision("fp16", "cpu") == torch.float16


def test_this_cpu_is_refused_bf16_exactly_when_it_lacks_it(monkeypatch):
    monkeypatch.delenv(precision.ALLOW_SLOW_ENV, raising=False)
    if precision.cpu_features().fast_bf16:
        assert resolve_precision("bf16", "cpu") == torch.bfloat16
    else:
        with pytest.raises(PrecisionError, match="no native bf16"):
            resolve_precision("bf16", "cpu")


def test_unknown_precision_is_refused():
    with pytest.raises(PrecisionError, match="fp32"):
        resolve_precision("int8", "cpu")


def test_sensitive_parts_stay_float32_under_autocast(golden):
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")
    image = torch.rand(2, 3, 128, 128)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        kp = model.kp_detector(image)
        motion = model.generator.dense_motion_network(image, kp, kp[[1, 0]])
    assert kp.value.dtype == torch.float32 and kp.jacobian.dtype == torch.float32  # soft-argmax, jacobians
    assert motion.deformation.dtype == torch.float32 and motion.mask.dtype == torch.float32  # sampling grid


def _turned_keypoints(num_kp: int = 10) -> tuple[Keypoints, Keypoints]:
    g = torch.Generator().manual_seed(0)
    value = torch.rand(2, num_kp, 2, generator=g) * 1.6 - 0.8
    jacobian = torch.eye(2) + 0.3 * torch.randn(2, num_kp, 2, 2, generator=g)
    return Keypoints(value, jacobian), Keypoints(value.flip(0) * 0.9, jacobian.flip(0).transpose(-1, -2))


def test_motion_coordinates_are_float32_exact_under_autocast(golden):
    """Autocast runs matmul/einsum in bf16 even on float32 inputs: the sparse motions (the sampling
    coordinates) and the relative jacobians must be computed outside it, to the float32 result.
    In bf16 they were off by up to 0.4 px at 64 px."""
    network = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu").generator.dense_motion_network
    kp_driving, kp_source = _turned_keypoints(network.num_kp)
    exact = network.sparse_motions((64, 64), kp_driving, kp_source)
    relative = normalize_kp(kp_source, kp_driving, kp_source, use_relative_movement=True, use_relative_jacobian=True)
    with torch.autocast("cpu", torch.bfloat16):
        reduced = network.sparse_motions((64, 64), kp_driving, kp_source)
        relative_reduced = normalize_kp(kp_source, kp_driving, kp_source, use_relative_movement=True,
                                        use_relative_jacobian=True)
    assert reduced.dtype == torch.float32
    torch.testing.assert_close(reduced, exact, rtol=0, atol=1e-6)
    torch.testing.assert_close(relative_reduced.jacobian, relative.jacobian, rtol=0, atol=1e-6)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


# precision: (max abs difference of the frames, minimum PSNR dB, max keypoint difference) against fp32.
# Measured on the golden tiny checkpoint: bf16 2.1e-3 / 65.7 dB / 9.3e-4; fp16 2.6e-4 / 80 dB / 6.6e-5.
TOLERANCES = {"fp32": (1e-4, 100.0, 1e-5), "bf16": (1e-2, 50.0, 5e-3), "fp16": (2e-3, 60.0, 5e-4)}


@pytest.mark.parametrize("name, align_corners", [("fp32", False), ("fp32", True), ("bf16", True), ("fp16", False)])
def test_every_precision_matches_the_authors_fp32_outputs(golden, name, align_corners):
    io = np.load(golden / "tiny-io.npz")
    prefix = f"ac{int(align_corners)}_"
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu", align_corners=align_corners)
    backend = TorchBackend(model, precision=name, allow_slow=True)  # emulated where the CPU lacks bf16/fp16
    source = backend.to_input(torch.from_numpy(io["source"][:1]))
    driving = backend.to_input(torch.from_numpy(io["driving"]))
    with torch.inference_mode():
        kp_driving, kp_source = backend.keypoints(driving), backend.keypoints(source)
        prediction = backend.decode(backend.encode_source(source), source, kp_driving, kp_source)
    expected = torch.from_numpy(io[prefix + "gen_prediction"])
    max_abs, min_psnr, kp_tol = TOLERANCES[name]
    assert prediction.dtype == torch.float32
    assert float((prediction - expected).abs().max()) <= max_abs
    assert _psnr(prediction, expected) >= min_psnr
    assert float((kp_driving.value - torch.from_numpy(io[prefix + "kp_driving_value"])).abs().max()) <= kp_tol


def test_animator_refuses_bf16_here_and_runs_it_when_allowed(golden, cpu):
    cpu(PLAIN)
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")
    source = torch.rand(3, 128, 128)
    with pytest.raises(PrecisionError, match="avx512_bf16"):
        Animator(model, source, precision="bf16", size=128)
    frames = [torch.rand(3, 128, 128) for _ in range(3)]
    exact = Animator(model, source, precision="fp32", size=128).stream(frames, output="tensor")
    exact = torch.stack([f.image for f in exact])
    reduced = Animator(model, source, precision="bf16", allow_slow=True, batch_size=2, size=128)
    assert reduced.backend.precision == "bf16"
    images = torch.stack([f.image for f in reduced.stream(frames, output="tensor")])
    assert _psnr(images, exact) >= 50


@pytest.mark.parametrize("command", ["animate", "keypoints", "demo"])
def test_cli_refuses_bf16_on_a_cpu_without_it_in_one_line(golden, cpu, tmp_path, capsys, command):
    from fomm.cli import main
    from tests.media import make_frame_folder, make_image

    cpu(PLAIN)
    source = make_image(tmp_path / "source.png", size=(64, 64))
    model = ["--checkpoint", golden / "tiny-cpk.pth.tar", "--size", "128"]
    out = tmp_path / "out"
    argv = {"animate": ["animate", source, make_frame_folder(tmp_path / "frames", n=2, size=(64, 64)), "-o", out,
                        *model],
            "keypoints": ["keypoints", source, "-o", out.with_suffix(".csv"), *model],
            "demo": ["demo", "-o", out]}[command]
    assert main([str(a) for a in [*argv, "--precision", "bf16"]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"fomm {command}: error: precision bf16: this CPU has no native bf16") and "\n" not in err
    assert not out.exists() and not out.with_suffix(".csv").exists()
