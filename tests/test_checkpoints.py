"""Checkpoint formats read and written, and every refusal."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch

import fomm
from fomm.checkpoints import CheckpointError, read_checkpoint, save_checkpoint
from fomm.model import FOMM


@pytest.fixture(scope="module")
def original(golden) -> dict:
    return torch.load(golden / "tiny-cpk.pth.tar", weights_only=True)


def _same_weights(a: FOMM, b: FOMM) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0)


def test_original_checkpoint_loads_without_config(golden):
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")
    reference = fomm.load_model(golden / "tiny-cpk.pth.tar", config=golden / "tiny.yaml", device="cpu")
    _same_weights(model, reference)
    assert not model.training and model.align_corners


def test_module_prefix_and_plain_pair(tmp_path, golden, original):
    prefixed = {k: ({f"module.{n}": t for n, t in v.items()} if k in ("generator", "kp_detector") else v)
                for k, v in original.items()}
    torch.save(prefixed, tmp_path / "ddp.pth.tar")
    torch.save({"generator": original["generator"], "kp_detector": original["kp_detector"]}, tmp_path / "pair.pth")
    flat = {f"module.{n}.{k}": t for n in ("generator", "kp_detector") for k, t in original[n].items()}
    torch.save(flat, tmp_path / "flat.pt")
    reference = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")
    for name in ("ddp.pth.tar", "pair.pth", "flat.pt"):
        _same_weights(fomm.load_model(tmp_path / name, device="cpu"), reference)


def test_legacy_torch_1_0_format(tmp_path, golden, original):
    """The published checkpoints predate the zip format."""
    pair = {"generator": original["generator"], "kp_detector": original["kp_detector"]}
    torch.save(pair, tmp_path / "legacy.pth.tar", _use_new_zipfile_serialization=False)
    _same_weights(fomm.load_model(tmp_path / "legacy.pth.tar", device="cpu"),
                  fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu"))


@pytest.mark.parametrize("suffix", [".pth.tar", ".safetensors"])
def test_save_and_reload_round_trip(tmp_path, golden, suffix):
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", config=golden / "tiny.yaml", with_discriminator=True)
    path = save_checkpoint(tmp_path / f"model{suffix}", model.networks(), model.config, epoch=3)
    ckpt = read_checkpoint(path)
    assert ckpt.epoch == 3 and ckpt.config == model.config
    assert set(ckpt.state_dicts) == {"generator", "kp_detector", "discriminator"}
    _same_weights(fomm.load_model(path, with_discriminator=True), model)
    assert not list(tmp_path.glob("*.partial"))


def test_saved_file_reads_as_the_original_format(tmp_path, golden):
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", with_discriminator=True)
    path = save_checkpoint(tmp_path / "00000001-checkpoint.pth.tar", model.networks(), model.config, epoch=1)
    raw = torch.load(path, weights_only=True)
    assert {"generator", "kp_detector", "discriminator", "epoch"} <= set(raw)
    assert raw["generator"].keys() == model.generator.state_dict().keys()


class _Evil:
    """Unpickling this creates the file ``marker``: proof that the pickle's code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_carrying_code_is_refused_and_never_runs(tmp_path, original):
    path, marker = tmp_path / "evil.pth.tar", tmp_path / "pwned"
    torch.save({"generator": original["generator"], "kp_detector": original["kp_detector"], "x": _Evil(marker)},
               path)
    with pytest.raises(CheckpointError, match="refused to load.*can run code"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="refused to load"):
        fomm.load_model(path, device="cpu")
    assert not marker.exists()


def test_truncated_file_is_refused(tmp_path, golden):
    data = (golden / "tiny-cpk.pth.tar").read_bytes()
    path = tmp_path / "cut.pth.tar"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint(path)
    path = tmp_path / "cut.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(CheckpointError, match="truncated or not a safetensors"):
        read_checkpoint(path)


def test_not_a_fomm_checkpoint(tmp_path):
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "resnet.pth")
    with pytest.raises(CheckpointError, match="not a FOMM checkpoint.*generator"):
        read_checkpoint(tmp_path / "resnet.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="not a FOMM checkpoint"):
        read_checkpoint(tmp_path / "list.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch"):
        read_checkpoint(tmp_path / "text.pth")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "missing.pth.tar")


def test_config_that_disagrees_names_keys_and_shapes(golden):
    with pytest.raises(CheckpointError, match=r"disagree:\n  generator\.dense_motion_network\.hourglass\.encoder"
                                              r"\.down_blocks\.0\.conv\.weight: config gives \(128, 44, 3, 3\), "
                                              r"checkpoint has \(16, 44, 3, 3\)[\s\S]*and \d+ more"):
        fomm.load_model(golden / "tiny-cpk.pth.tar", config="vox-256")


def test_preset_name_gives_untrained_architecture():
    with torch.device("meta"):
        model = fomm.load_model("taichi-256", device="meta")
    assert model.config.model_params.generator_params.num_bottleneck_blocks == 6


def test_unknown_name(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: nope"):
        fomm.load_model("nope")


def _zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return z.namelist()


def test_weights_only_is_used(monkeypatch, tmp_path, original):
    """Every torch.load goes through weights_only=True, never the unsafe path, for the zip format and
    the legacy format the original checkpoints were written in."""
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    state = {"generator": original["generator"], "kp_detector": original["kp_detector"]}
    torch.save(state, tmp_path / "zip.pth")
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=False)
    (tmp_path / "legacy.pth").write_bytes(buffer.getvalue())
    assert _zip_names(tmp_path / "zip.pth") and not zipfile.is_zipfile(tmp_path / "legacy.pth")
    for name in ("zip.pth", "legacy.pth"):
        ckpt = read_checkpoint(tmp_path / name)
        torch.testing.assert_close(ckpt.state_dicts["generator"], dict(original["generator"]), rtol=0, atol=0)
    fomm.load_model(tmp_path / "legacy.pth", device="cpu")
    assert seen == [True, True, True]


@pytest.mark.parametrize("content", [b"", b"x", b"\0" * 4096], ids=["empty", "one-byte", "zeros"])
def test_empty_or_garbage_file_is_truncated_not_code(tmp_path, content):
    path = tmp_path / "bad.pth.tar"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="truncated") as info:
        read_checkpoint(path)
    assert "run code" not in str(info.value) and "\n" not in str(info.value)


def test_dev_zero_is_truncated_not_code():
    with pytest.raises(CheckpointError, match="truncated") as info:
        read_checkpoint("/dev/zero")
    assert "run code" not in str(info.value)


def _pair(original, change=None) -> dict:
    """The original's two networks, with ``kp_detector.kp.weight`` replaced by ``change(it)``."""
    state = {"generator": dict(original["generator"]), "kp_detector": dict(original["kp_detector"])}
    if change is not None:
        state["kp_detector"]["kp.weight"] = change(state["kp_detector"]["kp.weight"])
    return state


def test_integer_weights_are_refused_not_cast(tmp_path, original):
    torch.save(_pair(original, lambda t: t.to(torch.int64)), tmp_path / "int.pth")
    with pytest.raises(CheckpointError, match=r"kp_detector\.kp\.weight.*int64.*floating"):
        fomm.load_model(tmp_path / "int.pth", device="cpu")


def test_half_precision_weights_still_load(tmp_path, golden, original):
    half = {n: {k: (t.half() if t.is_floating_point() else t) for k, t in sd.items()}
            for n, sd in _pair(original).items()}
    torch.save(half, tmp_path / "half.pth")
    model = fomm.load_model(tmp_path / "half.pth", device="cpu")
    assert model.generator.first.conv.weight.dtype == torch.float32


def test_stride_zero_tensor_declaring_more_values_than_stored_is_refused(tmp_path, original):
    path = tmp_path / "expanded.pth"
    torch.save(_pair(original, lambda t: torch.zeros(1).expand(100000, 16, 3, 3)), path)
    with pytest.raises(CheckpointError, match=r"kp_detector\.kp\.weight.*declares 14400000 values.*stores 1"):
        read_checkpoint(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("suffix", [".pth.tar", ".safetensors"])
def test_non_finite_weights_are_refused_at_load(tmp_path, golden, bad, suffix):
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")
    with torch.no_grad():
        model.generator.final.weight[0, 0, 0, 0] = bad
    path = save_checkpoint(tmp_path / f"nan{suffix}", model.networks(), model.config)
    with pytest.raises(CheckpointError, match=r"non-finite.*generator\.final\.weight") as info:
        fomm.load_model(path, device="cpu")
    assert "\n" not in str(info.value)


def test_stored_config_that_disagrees_does_not_say_drop_config(tmp_path, golden):
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", config=golden / "tiny.yaml", device="cpu")
    wrong = fomm.load_config("vox-256")
    path = save_checkpoint(tmp_path / "wrong.pth.tar", model.networks(), wrong)
    with pytest.raises(CheckpointError, match="disagree") as info:
        fomm.load_model(path, device="cpu")
    assert "--config" in str(info.value) and "Drop --config" not in str(info.value)
    with pytest.raises(CheckpointError, match="Drop --config"):
        fomm.load_model(golden / "tiny-cpk.pth.tar", config="vox-256", device="cpu")
