"""Which precision each device gets, pinned to the hardware's documented rules rather than to the
code's own answers (issue 30): a CPU is fast in bf16 with AVX512-BF16 *or* AMX tiles and in fp16 with
AMX-FP16 only; a CUDA GPU is fast in bf16 from compute capability 8.0 (Ampere) when the driver says
so, in fp16 from 7.0 (Volta's tensor cores); anything else is fp32 unless the user asks. The
refusals are one exact line naming the device, what it lacks and the fix.

The GPU cases run on any machine through a fake ``torch.cuda`` (capability, bf16 support, name):
what is tested is the rule applied to what the driver reports.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import fomm.precision as precision
from fomm.precision import CpuFeatures, Precision, PrecisionError, fast_precisions, resolve_precision

ENV = precision.ALLOW_SLOW_ENV


def features(avx512_bf16=False, amx_bf16=False, amx_fp16=False, model="Test CPU") -> CpuFeatures:
    return CpuFeatures(model, avx512_bf16=avx512_bf16, amx_bf16=amx_bf16, amx_fp16=amx_fp16)


@pytest.fixture
def cpu(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)

    def use(found: CpuFeatures) -> None:
        monkeypatch.setattr(precision, "cpu_features", lambda: found)
    return use


@pytest.fixture
def gpu(monkeypatch):
    """A fake CUDA device with compute capability ``(major, minor)``."""
    monkeypatch.delenv(ENV, raising=False)

    def use(major: int, minor: int = 0, bf16: bool = True, name: str = "Fake GPU") -> None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    return use


# ------------------------------------------------------------------------------ CPUs
@pytest.mark.parametrize(("found", "fast"), [
    (features(), []),
    (features(avx512_bf16=True), ["bf16"]),  # Cooper Lake, Zen 4: bf16 dot products alone suffice
    (features(amx_bf16=True), ["bf16"]),
    (features(amx_fp16=True), ["fp16"]),
    (features(avx512_bf16=True, amx_bf16=True, amx_fp16=True), ["bf16", "fp16"]),  # Granite Rapids
])
def test_a_cpu_is_fast_in_what_its_instructions_do(cpu, found, fast):
    cpu(found)
    assert fast_precisions("cpu") == fast == fast_precisions(torch.device("cpu"))
    assert found.fast_bf16 == ("bf16" in fast)
    assert resolve_precision("auto", "cpu") == {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
        (fast or ["fp32"])[0], torch.float32)


def test_a_cpu_is_described_with_each_flag():
    assert features(avx512_bf16=True, amx_fp16=True, model="EPYC 9654").describe() == \
        "EPYC 9654 (avx512_bf16: yes, amx_bf16: no, amx_fp16: yes)"
    assert features(amx_bf16=True, model="Xeon").describe() == "Xeon (avx512_bf16: no, amx_bf16: yes, amx_fp16: no)"


def test_the_cpu_flags_are_read_from_torchs_own_checks(monkeypatch):
    calls = {"_is_avx512_bf16_supported": True, "_is_amx_tile_supported": False, "_is_amx_fp16_supported": True}
    for name, answer in calls.items():
        monkeypatch.setattr(torch.cpu, name, lambda answer=answer: answer, raising=False)
    precision.cpu_features.cache_clear()
    try:
        found = precision.cpu_features()
        assert (found.avx512_bf16, found.amx_bf16, found.amx_fp16) == (True, False, True)
    finally:
        precision.cpu_features.cache_clear()


def test_a_flag_torch_lacks_or_cannot_tell_is_no(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_amx_fp16_supported", raising=False)
    assert precision._cpu_flag("_is_amx_fp16_supported") is False

    def broken():
        raise RuntimeError("cpuinfo failed")

    monkeypatch.setattr(torch.cpu, "_is_amx_fp16_supported", broken, raising=False)
    assert precision._cpu_flag("_is_amx_fp16_supported") is False
    monkeypatch.setattr(torch.cpu, "_is_amx_fp16_supported", lambda: 1, raising=False)
    assert precision._cpu_flag("_is_amx_fp16_supported") is True


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="needs Linux /proc/cpuinfo")
def test_the_cpu_model_is_the_kernels_model_name():
    first = re.search(r"^model name\s*:\s*(.*?)\s*$", Path("/proc/cpuinfo").read_text(), re.M)
    if first is None:
        pytest.skip("this kernel's cpuinfo has no model name")
    assert precision._cpu_model() == first.group(1)


def test_without_cpuinfo_the_model_is_the_platforms_word(monkeypatch):
    def unreadable(self, *args, **kwargs):
        raise OSError("no /proc")

    monkeypatch.setattr(Path, "read_text", unreadable)
    monkeypatch.setattr(precision.platform, "processor", lambda: "")
    monkeypatch.setattr(precision.platform, "machine", lambda: "riscv64")
    assert precision._cpu_model() == "riscv64"
    monkeypatch.setattr(precision.platform, "processor", lambda: "arm")
    assert precision._cpu_model() == "arm"
    monkeypatch.setattr(precision.platform, "processor", lambda: "")
    monkeypatch.setattr(precision.platform, "machine", lambda: "")
    assert precision._cpu_model() == "unknown CPU"


@pytest.mark.parametrize(("name", "missing"), [("bf16", "avx512_bf16 or amx_bf16"), ("fp16", "amx_fp16")])
def test_an_emulated_cpu_precision_is_refused_in_one_exact_line(cpu, name, missing):
    found = features(model="Plain CPU", amx_fp16=name == "bf16", avx512_bf16=name == "fp16")
    cpu(found)
    with pytest.raises(PrecisionError) as caught:
        resolve_precision(name, "cpu")
    assert str(caught.value) == (
        f"precision {name}: this CPU has no native {name} arithmetic ({found.describe()}; it needs {missing}), "
        f"so {name} would run slower than fp32; use fp32 or auto (set FOMM_ALLOW_SLOW_PRECISION=1 or pass "
        "allow_slow=True to run it emulated anyway, for accuracy checks)")


@pytest.mark.parametrize(("value", "allowed"), [("", False), ("0", False), ("1", True), ("yes", True)])
def test_the_environment_allows_emulation_unless_empty_or_zero(cpu, monkeypatch, value, allowed):
    cpu(features())
    monkeypatch.setenv(ENV, value)
    if allowed:
        assert resolve_precision("bf16", "cpu") == torch.bfloat16
    else:
        with pytest.raises(PrecisionError):
            resolve_precision("bf16", "cpu")
    assert resolve_precision("fp16", "cpu", allow_slow=True) == torch.float16


# ------------------------------------------------------------------------------ GPUs
@pytest.mark.parametrize(("capability", "bf16", "fast"), [
    ((6, 1), True, []),  # Pascal: no tensor cores
    ((7, 0), True, ["fp16"]),  # Volta
    ((7, 5), True, ["fp16"]),  # Turing
    ((8, 0), True, ["bf16", "fp16"]),  # Ampere
    ((8, 0), False, ["fp16"]),  # the driver says no bf16
    ((9, 0), True, ["bf16", "fp16"]),  # Hopper
])
def test_a_gpu_is_fast_in_what_its_tensor_cores_do(gpu, capability, bf16, fast):
    gpu(*capability, bf16=bf16)
    assert fast_precisions("cuda") == fast
    expected = {"bf16": torch.bfloat16, "fp16": torch.float16}.get((fast or ["fp32"])[0], torch.float32)
    assert resolve_precision("auto", "cuda") == expected
    assert Precision.resolve("auto", "cuda").name == {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(
        expected, "fp32")


def test_a_gpu_refusal_names_the_card_and_the_precision_it_has(gpu):
    gpu(7, 5, name="Tesla T4")
    with pytest.raises(PrecisionError) as caught:
        resolve_precision("bf16", "cuda")
    assert str(caught.value) == ("precision bf16: Tesla T4 has no fast bf16 (tensor cores); use fp16 or auto "
                                 "(set FOMM_ALLOW_SLOW_PRECISION=1 to run it anyway)")
    gpu(6, 1, name="GTX 1080")
    with pytest.raises(PrecisionError) as caught:
        resolve_precision(torch.float16, "cuda:0")
    assert str(caught.value) == ("precision fp16: GTX 1080 has no fast fp16 (tensor cores); use fp32 or auto "
                                 "(set FOMM_ALLOW_SLOW_PRECISION=1 to run it anyway)")
    assert resolve_precision("fp16", "cuda", allow_slow=True) == torch.float16


def test_other_devices_are_fp32_unless_asked(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert fast_precisions("mps") == [] and resolve_precision("auto", "mps") == torch.float32
    with pytest.raises(PrecisionError) as caught:
        resolve_precision("bf16", "mps")
    assert str(caught.value) == ("precision bf16: not measured on mps; use fp32 (set FOMM_ALLOW_SLOW_PRECISION=1 "
                                 "to try it anyway)")
    assert resolve_precision("bf16", "mps", allow_slow=True) == torch.bfloat16


# ------------------------------------------------------------------------------ the words
def test_dtypes_are_taken_for_their_names_and_others_refused(cpu):
    cpu(features())
    assert resolve_precision(torch.float32, "cpu") == torch.float32
    assert resolve_precision(torch.bfloat16, "cpu", allow_slow=True) == torch.bfloat16
    with pytest.raises(PrecisionError) as caught:
        resolve_precision(torch.int8, "cpu")
    assert str(caught.value) == "precision must be one of fp32, bf16, fp16, got torch.int8"
    with pytest.raises(PrecisionError) as caught:
        resolve_precision("half", "cpu")
    assert str(caught.value) == "precision must be one of auto, fp32, bf16, fp16, got 'half'"
    with pytest.raises(PrecisionError):
        resolve_precision(torch.bfloat16, "cpu")  # a dtype is refused like its name


def test_precision_names_itself_and_knows_when_it_is_emulated(cpu):
    cpu(features(amx_bf16=True))
    chosen = Precision.resolve("bf16", "cpu")
    assert (chosen.dtype, chosen.device, chosen.name, chosen.native) == (torch.bfloat16, torch.device("cpu"),
                                                                          "bf16", True)
    emulated = Precision.resolve("fp16", torch.device("cpu"), allow_slow=True)
    assert (emulated.name, emulated.native) == ("fp16", False)
    exact = Precision.resolve("fp32", "cpu")
    assert (exact.name, exact.native) == ("fp32", True)
    cpu(features())
    assert Precision(torch.float32, torch.device("cpu")).native is True


def test_the_autocast_region_runs_a_convolution_in_its_dtype():
    conv, x = torch.nn.Conv2d(1, 1, 1), torch.ones(1, 1, 2, 2)
    with Precision(torch.bfloat16, torch.device("cpu")).autocast():
        assert conv(x).dtype == torch.bfloat16
    with precision.autocast("cpu", torch.float16):
        assert conv(x).dtype == torch.float16
    with Precision(torch.float32, torch.device("cpu")).autocast():
        assert conv(x).dtype == torch.float32


def test_precision_refuses_emulation_unless_asked(cpu):
    cpu(features())
    with pytest.raises(PrecisionError, match="no native bf16"):
        Precision.resolve("bf16", "cpu")
    assert Precision.resolve("bf16", "cpu", allow_slow=True).name == "bf16"


def test_the_capability_asked_is_the_devices_own_not_the_current_ones(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    cards = {torch.device("cuda:0"): ((8, 6), "RTX A6000"), torch.device("cuda:1"): ((7, 5), "Tesla T4")}

    def card(device=None):  # None: the current device, cuda:0
        return cards[torch.device("cuda:0") if device is None else torch.device(device)]

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: card(device)[0])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: card(device)[1])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert fast_precisions("cuda:1") == ["fp16"] and fast_precisions("cuda:0") == ["bf16", "fp16"]
    with pytest.raises(PrecisionError, match=r"^precision bf16: Tesla T4 has no fast bf16"):
        resolve_precision("bf16", "cuda:1")


def test_a_model_name_with_a_colon_is_kept_whole(monkeypatch):
    cpuinfo = "processor\t: 0\nvendor_id\t: Test\nmodel name\t: Vendor CPU rev:2 @ 3.0GHz\nflags\t\t: fpu\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: cpuinfo)
    assert precision._cpu_model() == "Vendor CPU rev:2 @ 3.0GHz"
