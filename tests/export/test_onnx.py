"""ONNX export and the onnxruntime backend: the exported graphs reproduce PyTorch (and the authors'
outputs) within 1e-4 at any batch size, with either align_corners, through the same Animator."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import fomm
from fomm.animation import AnimationError, Animator
from fomm.cli import main
from fomm.config import load_config
from fomm.export import ExportError, OnnxBackend, export_onnx
from fomm.io import read_image
from fomm.io.outputs import MARKER, OutputError
from fomm.model import FOMM
from tests.media import make_frame_folder, make_image

SIZE = 128  # the golden tiny checkpoint's frame size
ATOL = 1e-4


@pytest.fixture(scope="module")
def tiny(golden):
    return fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")


@pytest.fixture(scope="module")
def exported(golden, tmp_path_factory):
    """The golden tiny checkpoint exported by the command line (align_corners from the config: True)."""
    out = tmp_path_factory.mktemp("onnx") / "tiny-onnx"
    assert main(["export", str(golden / "tiny-cpk.pth.tar"), "--format", "onnx", "-o", str(out),
                 "--size", str(SIZE)]) == 0
    return out


@pytest.fixture(scope="module")
def backend(exported):
    return OnnxBackend(exported)


def _golden_run(backend, io) -> tuple[torch.Tensor, torch.Tensor]:
    source = backend.to_input(torch.from_numpy(io["source"][:1]))
    driving = backend.to_input(torch.from_numpy(io["driving"]))
    with torch.inference_mode():
        kp_driving, kp_source = backend.keypoints(driving), backend.keypoints(source)
        return kp_driving.value, backend.decode(backend.encode_source(source), source, kp_driving, kp_source)


@pytest.mark.parametrize("align_corners", [True, False])
def test_graphs_reproduce_the_authors_outputs(golden, backend, tmp_path, align_corners):
    io = np.load(golden / "tiny-io.npz")
    if not align_corners:
        model = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu", align_corners=False)
        backend = OnnxBackend(export_onnx(model, tmp_path / "ac0", size=SIZE))
    assert backend.align_corners is align_corners and backend.size == SIZE
    kp, prediction = _golden_run(backend, io)
    prefix = f"ac{int(align_corners)}_"
    torch.testing.assert_close(kp, torch.from_numpy(io[prefix + "kp_driving_value"]), atol=ATOL, rtol=0)
    torch.testing.assert_close(prediction, torch.from_numpy(io[prefix + "gen_prediction"]), atol=ATOL, rtol=0)


def test_metadata_describes_the_graphs(exported, tiny):
    meta = json.loads((exported / "fomm-onnx.json").read_text())
    assert meta["size"] == SIZE and meta["align_corners"] is True and meta["num_kp"] == 10 and meta["jacobian"]
    assert meta["graphs"]["decode"]["inputs"][:4] == ["source_features", "source", "kp_driving", "kp_source"]
    import onnx

    props = {p.key: p.value for p in onnx.load(str(exported / "decode.onnx"), load_external_data=False).metadata_props}
    assert json.loads(props["size"]) == SIZE and "num_kp: 10" in props["config"]
    assert onnx.load(str(exported / "decode.onnx"), load_external_data=False).opset_import[0].version >= 16


def test_animator_with_onnxruntime_matches_pytorch_at_every_batch_size(backend, tiny):
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(3, SIZE, SIZE, generator=generator)
    frames = [torch.rand(3, SIZE, SIZE, generator=generator) for _ in range(5)]  # batches of 3 and 2

    def run(model) -> torch.Tensor:
        animator = Animator(model, source, batch_size=3, size=SIZE, adapt_scale=True)
        return torch.stack([f.image for f in animator.stream(frames, output="tensor")])

    torch.testing.assert_close(run(backend), run(tiny), atol=ATOL, rtol=0)


def test_cli_animate_with_onnxruntime_matches_torch(exported, golden, tmp_path):
    source = make_image(tmp_path / "source.png", size=(80, 64))
    driving = make_frame_folder(tmp_path / "driving", n=4, size=(64, 80))
    common = [str(source), str(driving), "--size", str(SIZE), "--batch-size", "3"]
    assert main(["animate", *common, "-o", str(tmp_path / "torch"), "--checkpoint",
                 str(golden / "tiny-cpk.pth.tar"), "--precision", "fp32"]) == 0
    assert main(["animate", *common, "-o", str(tmp_path / "ort"), "--backend", "onnxruntime",
                 "--model", str(exported)]) == 0
    ours = [read_image(p).astype(int) for p in sorted((tmp_path / "ort").glob("*.png"))]
    reference = [read_image(p).astype(int) for p in sorted((tmp_path / "torch").glob("*.png"))]
    assert len(ours) == len(reference) == 4
    # float frames within 1e-4 of each other round to uint8 levels at most 1 apart
    assert max(np.abs(a - b).max() for a, b in zip(ours, reference, strict=True)) <= 1


def test_vox_256_shaped_model_round_trips(tmp_path):
    """The vox-256 architecture (depths, scales, 10 keypoints, jacobians, occlusion) at 256 px, with
    narrow layers so that the test stays fast; the widths do not change what is exported."""
    config = load_config("vox-256")
    params = config.model_params
    params.kp_detector_params.block_expansion, params.kp_detector_params.max_features = 4, 16
    params.generator_params.block_expansion, params.generator_params.max_features = 4, 32
    params.generator_params.dense_motion_params.block_expansion = 4
    params.generator_params.dense_motion_params.max_features = 16
    torch.manual_seed(0)
    model = FOMM(config).eval()
    with torch.no_grad():
        model.kp_detector.jacobian.weight.normal_(0, 0.05)
    backend = OnnxBackend(export_onnx(model, tmp_path / "vox"))
    assert backend.size == 256
    images = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        kp = model.kp_detector(images[1:])
        kp_source = model.kp_detector(images[:1])
        expected = model.generator(images[:1].expand(2, -1, -1, -1), kp, kp_source[[0, 0]]).prediction
        ours_kp, ours_source = backend.keypoints(images[1:]), backend.keypoints(images[:1])
        prediction = backend.decode(backend.encode_source(images[:1]), images[:1], ours_kp, ours_source)
    torch.testing.assert_close(ours_kp.jacobian, kp.jacobian, atol=ATOL, rtol=0)
    torch.testing.assert_close(prediction, expected, atol=ATOL, rtol=0)


def test_missing_extra_is_named(monkeypatch, exported):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match=r"fomm\[onnx\]"):
        OnnxBackend(exported)


def test_refusals(exported, backend, tiny, tmp_path, capsys):
    with pytest.raises(OutputError, match="--overwrite"):
        export_onnx(tiny, exported, size=SIZE)
    assert main(["export", "no-such-checkpoint.pth", "-o", str(exported)]) == 2  # refused before loading
    assert "exists; pass --overwrite" in capsys.readouterr().err
    with pytest.raises(ExportError, match="GridSample"):
        export_onnx(tiny, tmp_path / "old", size=SIZE, opset=13)
    assert not (tmp_path / "old").exists()
    with pytest.raises(AnimationError, match="precision"):
        Animator(backend, torch.rand(3, SIZE, SIZE), precision="bf16")
    with pytest.raises(ExportError, match="exported at 128"):
        Animator(backend, torch.rand(3, 256, 256), size=256)
    with pytest.raises(ExportError, match="not an exported fomm model"):
        OnnxBackend(tmp_path)
    source = make_image(tmp_path / "s.png", size=(64, 64))
    driving = make_frame_folder(tmp_path / "frames", n=1, size=(64, 64))
    assert main(["animate", str(source), str(driving), "-o", str(tmp_path / "x.mp4"), "--backend", "onnxruntime"]) == 2
    assert "--model DIR" in capsys.readouterr().err


def test_overwrite_never_replaces_a_folder_fomm_did_not_make(golden, exported, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["export", str(golden / "tiny-cpk.pth.tar"), "-o", str(mine), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "fomm did not write (notes.txt)" in err and "\n" not in err.strip()
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep"
    assert (exported / MARKER).exists()  # an export is fomm's folder: --overwrite may replace it
