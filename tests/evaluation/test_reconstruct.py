"""Reconstruction evaluation: the scores equal a direct computation with the networks, a generator that
returns the source scores exactly as the first-frame baseline, a perfect one scores zero error, and the
synthetic motion measures are wired to fomm.data.synthetic."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from fomm.cli.main import main
from fomm.config import load_config
from fomm.data.datasets import DatasetError, FramesDataset
from fomm.data.synthetic import load_tracks, make_synthetic_dataset
from fomm.evaluation.parts import part_position_error
from fomm.evaluation.reconstruct import reconstruct
from fomm.io import VideoReader, to_uint8
from fomm.model import FOMM
from fomm.models import GeneratorOutput

S = 32


def tiny_config(size: int = S):
    config = load_config("vox-256")
    config.dataset_params.frame_shape = [size, size, 3]
    mp = config.model_params
    mp.common_params.num_kp = 4
    kp = mp.kp_detector_params
    kp.block_expansion, kp.max_features, kp.num_blocks = 4, 16, 3
    gen = mp.generator_params
    gen.block_expansion, gen.max_features, gen.num_bottleneck_blocks = 4, 16, 1
    dm = gen.dense_motion_params
    dm.block_expansion, dm.max_features, dm.num_blocks = 4, 16, 3
    return config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = FOMM(tiny_config())
    # Non-trivial batch-norm statistics, so eval mode is not an identity normalization.
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two test videos of random frames (5 and 3 frames) and one training video."""
    root = tmp_path_factory.mktemp("recon")
    rng = np.random.default_rng(0)
    for split, name, n in (("test", "a", 5), ("test", "b", 3), ("train", "c", 2)):
        folder = root / split / name
        folder.mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (S, S, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return root


def _frames(root, name) -> torch.Tensor:
    return FramesDataset(root, (S, S, 3), is_train=False).video(
        FramesDataset(root, (S, S, 3), is_train=False).videos.index(name)).to_tensor().permute(1, 0, 2, 3)


def test_scores_equal_a_direct_computation(model, data):
    result = reconstruct(model, data, batch_size=2)
    assert [v.name for v in result.videos] == ["a", "b"] and result.num_frames == 8
    for video in result.videos:
        real = _frames(data, video.name)  # (T, 3, H, W)
        with torch.no_grad():
            source = real[:1].expand_as(real)
            kp_source = model.kp_detector(source)  # batch of identical sources: same keypoints per row
            prediction = model.generator(source, model.kp_detector(real), kp_source).prediction
        assert video.model.l1 == pytest.approx(float((prediction - real).abs().mean()), abs=1e-6)
        assert video.model.psnr == pytest.approx(10 * math.log10(1 / float(((prediction - real) ** 2).mean())),
                                                 abs=1e-4)
        pairs = zip(prediction.permute(0, 2, 3, 1).numpy(), real.permute(0, 2, 3, 1).numpy(), strict=True)
        ssim = np.mean([structural_similarity(r, p, channel_axis=-1, data_range=1) for p, r in pairs])
        assert video.model.ssim == pytest.approx(ssim, abs=1e-5)
        assert video.baseline.l1 == pytest.approx(float((source - real).abs().mean()), abs=1e-6)
        assert video.model.akd is None and video.baseline.akd is None  # no tracks
    assert result.model.l1 == pytest.approx(np.mean([v.model.l1 for v in result.videos]))
    # Batch size changes nothing: the source is encoded once and broadcast.
    again = reconstruct(model, data, batch_size=5)
    for a, b in zip(result.videos, again.videos, strict=True):
        assert a.model.l1 == pytest.approx(b.model.l1, abs=1e-6)


def test_a_generator_returning_the_source_is_the_baseline(model, data, monkeypatch):
    def source_only(features, source, kp_driving, kp_source, visualize=True):
        return GeneratorOutput(prediction=source.expand(kp_driving.value.shape[0], *source.shape[1:]))

    monkeypatch.setattr(model.generator, "decode", source_only)
    result = reconstruct(model, data, batch_size=2)
    assert result.model == result.baseline
    for video in result.videos:
        assert video.model == video.baseline
        real = _frames(data, video.name)
        assert video.baseline.l1 == pytest.approx(float((real - real[:1]).abs().mean()), abs=1e-6)


def test_train_split_max_videos_and_training_mode_kept(model, data):
    model.train()
    try:
        result = reconstruct(model, data, split="train")
        assert model.training
    finally:
        model.eval()
    assert [v.name for v in result.videos] == ["c"]
    assert len(reconstruct(model, data, max_videos=1).videos) == 1


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "data"
    make_synthetic_dataset(root, num_videos=2, num_frames=4, size=S, test_fraction=0.5)
    return root


def test_motion_measures_on_synthetic_data(model, synthetic, monkeypatch):
    real = _frames(synthetic, "vid00001")
    colors = load_tracks(synthetic / "test" / "vid00001.tracks.json").part_colors
    # A "perfect" generator: it returns the very frames the keypoint detector was shown.
    shown = []
    detect = model.kp_detector.forward
    monkeypatch.setattr(model.kp_detector, "forward", lambda image: shown.append(image) or detect(image))
    monkeypatch.setattr(model.generator, "decode", lambda f, s, kd, ks, visualize=True:
                        GeneratorOutput(prediction=shown[-1]))
    result = reconstruct(model, synthetic, batch_size=3)
    (video,) = result.videos
    assert video.model.l1 == 0 and video.model.akd == 0 and video.model.mkr == 0
    assert math.isinf(video.model.psnr)
    expected = part_position_error(to_uint8(real[:1].expand_as(real)), to_uint8(real), colors)
    assert video.baseline.akd == pytest.approx(expected.akd) and video.baseline.mkr == pytest.approx(expected.mkr)
    assert video.baseline.akd > 0  # the figure moves
    assert "AKD px" in result.table() and "AKD" in result.summary()
    assert result.to_dict()["model"]["psnr"] is None  # inf is not JSON
    # ... and per part, named as in the tracks
    names = load_tracks(synthetic / "test" / "vid00001.tracks.json").part_names
    assert list(video.model.parts) == list(names) == list(result.model.parts)
    assert all(p == {"akd": 0.0, "mkr": 0.0} for p in video.model.parts.values())
    for k, name in enumerate(names):
        part = video.baseline.parts[name]
        assert part["akd"] == pytest.approx(expected.part_distance_sum[k] / expected.part_matched[k])
        assert part["mkr"] == pytest.approx(expected.part_missed[k] / expected.part_reference[k])
    assert f"by part: {names[0]} AKD 0.00 px MKR 0.000" in result.summary()
    assert result.to_dict()["first_frame_baseline"]["parts"][names[1]]["akd"] == pytest.approx(
        video.baseline.parts[names[1]]["akd"])


def test_outputs_metrics_json_and_videos(model, data, tmp_path):
    result = reconstruct(model, data, out_dir=tmp_path, save_videos="side-by-side", batch_size=4)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert result.metrics_path == tmp_path / "metrics.json"
    assert saved["model"]["l1"] == pytest.approx(result.model.l1)
    assert [v["name"] for v in saved["videos"]] == ["a", "b"]
    assert saved["first_frame_baseline"]["l1"] == pytest.approx(result.baseline.l1)
    with VideoReader(tmp_path / "videos" / "a.mp4") as reader:
        frames = list(reader)
    assert len(frames) == 5 and frames[0].shape == (S, 2 * S, 3)
    with pytest.raises(ValueError, match="save_videos"):
        reconstruct(model, data, save_videos="both", out_dir=tmp_path)


def test_table_and_summary(model, data):
    result = reconstruct(model, data)
    lines = result.table().splitlines()
    assert lines[0].split()[:3] == ["video", "frames", "L1"] and lines[-1].startswith("mean of 2 videos")
    assert "first frame" in result.summary() and "AKD" not in result.summary()
    # The mean row and the summary show the mean over videos, computed here from the per-video rows.
    for key in ("l1", "psnr", "ssim"):
        assert getattr(result.model, key) == pytest.approx(np.mean([getattr(v.model, key) for v in result.videos]))
        assert getattr(result.baseline, key) == pytest.approx(
            np.mean([getattr(v.baseline, key) for v in result.videos]))
    m, b = result.model, result.baseline
    mean_row = lines[-1].split()
    assert mean_row[:5] == ["mean", "of", "2", "videos", "8"]
    assert mean_row[5:] == [f"{m.l1:.4f}", f"({b.l1:.4f})", f"{m.psnr:.2f}", f"({b.psnr:.2f})",
                            f"{m.ssim:.3f}", f"({b.ssim:.3f})"]
    assert f"L1 {m.l1:.4f} (first frame {b.l1:.4f})" in result.summary()


def test_cli(model, data, tmp_path, capsys):
    from fomm.checkpoints import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "tiny.pth.tar", model.networks(), config=model.config)
    out = tmp_path / "out"
    code = main(["reconstruct", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(out),
                 "--save-videos", "--batch-size", "4", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "mean of 2 videos" in printed and "frames in" in printed and str(out / "metrics.json") in printed
    assert (out / "videos" / "b.mp4").exists()

    assert main(["reconstruct", "--checkpoint", str(ckpt), "--data", str(data), "--save-videos"]) == 2
    assert "--save-videos needs --out" in capsys.readouterr().err
    assert main(["reconstruct", "--checkpoint", str(ckpt), "--data", str(tmp_path / "missing")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_wrong_data_is_a_dataset_error(model, tmp_path):
    (tmp_path / "test").mkdir()
    with pytest.raises(DatasetError, match="0 videos found"):
        reconstruct(model, tmp_path)
