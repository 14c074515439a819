"""``fomm reconstruct`` on the batch engine: the same numbers as the single-process evaluation with 0 and 2
workers, a resume that scores only the videos left, shards that add up to the whole metrics, and scores of
other settings never mixed in."""

from __future__ import annotations

import json

import pytest

from fomm.batch.reconstruct import WORK, ReconstructError, reconstruct_dataset
from fomm.batch.status import OK, SKIPPED, read_records
from fomm.cli.main import main
from fomm.data.synthetic import make_synthetic_dataset
from fomm.evaluation.reconstruct import reconstruct
from tests.evaluation.test_reconstruct import tiny_config

pytestmark = pytest.mark.slow
S = 32


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from fomm.checkpoints import save_checkpoint
    from fomm.model import FOMM

    torch.manual_seed(0)
    net = FOMM(tiny_config(S)).eval()
    with torch.no_grad():
        net.kp_detector.jacobian.weight.normal_(0, 0.05)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pth.tar", net.networks(), config=net.config)


@pytest.fixture(scope="module")
def model(checkpoint):
    from fomm import load_model

    return load_model(checkpoint, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Four tiny synthetic test videos (3 to 6 frames, with their part tracks: AKD/MKR are scored too)."""
    root = tmp_path_factory.mktemp("synth") / "data"
    make_synthetic_dataset(root, num_videos=5, num_frames=6, size=S, test_fraction=0.8)
    for k, folder in enumerate(sorted((root / "test").glob("vid*[0-9]"))):  # unequal lengths: longest first matters
        for frame in sorted(folder.glob("*.png"))[3 + k:]:
            frame.unlink()
        tracks = folder.parent / f"{folder.name}.tracks.json"
        content = json.loads(tracks.read_text())
        tracks.write_text(json.dumps(_cut_tracks(content, 3 + k)))
    return root


def _cut_tracks(content, n):
    """The tracks of a video's first ``n`` frames (every per-frame list cut)."""
    if isinstance(content, dict):
        return {k: n if k == "num_frames" else _cut_tracks(v, n) for k, v in content.items()}
    if isinstance(content, list) and len(content) == 6:
        return content[:n]
    return content


def _numbers(metrics: dict) -> dict:
    """metrics.json without what depends on the run (its time, where videos were written)."""
    return {k: v for k, v in metrics.items() if k != "seconds"} | {
        "videos": [{k: v for k, v in video.items() if k != "video"} for video in metrics["videos"]]}


@pytest.fixture(scope="module")
def single_process(model, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    reconstruct(model, data, out_dir=out, batch_size=2)
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("workers", [0, 2])
def test_the_engine_gives_the_single_process_numbers(model, checkpoint, data, single_process, tmp_path, workers):
    run = reconstruct_dataset(model, data, tmp_path, checkpoint=str(checkpoint), batch_size=2, workers=workers,
                              device="cpu", save_videos="prediction")
    assert (run.batch.done, run.batch.failed, run.scored, run.total) == (4, 0, 4, 4)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["first_frame_baseline"]["akd"] > 0 and metrics["model"]["mkr"] is not None  # the tracks are read
    assert [v["num_frames"] for v in metrics["videos"]] == [3, 4, 5, 6]
    assert _numbers(metrics) == _numbers(single_process)
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == [
        ".fomm-output", *(f"{v['name']}.mp4" for v in metrics["videos"])]
    records = read_records([tmp_path / WORK / "batch-status.jsonl"])
    if workers == 0:
        assert [r.frames for r in records] == [6, 5, 4, 3]  # the longest video first
    else:  # two at a time: they finish in any order
        assert sorted(r.frames for r in records) == [3, 4, 5, 6] and {r.worker for r in records} == {"0", "1"}


def test_a_rerun_scores_only_the_videos_left_and_shards_add_up(model, checkpoint, data, single_process, tmp_path):
    out = tmp_path / "out"
    first = reconstruct_dataset(model, data, out, checkpoint=str(checkpoint), batch_size=2, workers=0, shard="0/2")
    assert (first.batch.done, first.result, first.scored) == (2, None, 2)  # half the videos: no metrics yet
    assert not (out / "metrics.json").exists()
    argv = ["reconstruct", "--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out),
            "--batch-size", "2", "--device", "cpu", "--workers", "0", "--precision", "fp32"]
    assert main(argv) == 0  # the whole split: the shard's two are skipped, the other two scored
    records = read_records([out / WORK / "batch-status.jsonl"])
    assert sorted(r.status for r in records[-4:]) == [OK, OK, SKIPPED, SKIPPED]
    assert _numbers(json.loads((out / "metrics.json").read_text())) == _numbers(single_process)


def test_scores_of_other_settings_are_not_mixed_in(model, checkpoint, data, tmp_path, capsys):
    reconstruct_dataset(model, data, tmp_path, checkpoint=str(checkpoint), batch_size=2, workers=0, shard="1/2")
    with pytest.raises(ReconstructError, match=r"other settings \(batch_size 2 -> 3\).*--overwrite"):
        reconstruct_dataset(model, data, tmp_path, checkpoint=str(checkpoint), batch_size=3, workers=0)
    argv = ["reconstruct", "--checkpoint", str(checkpoint), "--data", str(data), "--out", str(tmp_path),
            "--device", "cpu", "--workers", "0", "--max-videos", "1", "--precision", "fp32"]
    assert main(argv) == 2 and "other settings (batch_size 2 -> 16)" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["num_videos"] == 1


def test_a_video_that_fails_is_recorded_the_others_scored_and_retry_finishes(checkpoint, data, single_process,
                                                                             tmp_path, capsys, monkeypatch):
    import importlib

    from fomm.data.datasets import DatasetError

    evaluation = importlib.import_module("fomm.evaluation.reconstruct")  # the module (fomm.evaluation.reconstruct
    # is also the name of its function)

    real = evaluation._reconstruct_video

    def fails_on_vid2(model, video, *args):  # as a file damaged after the dataset was checked would
        if video.name == "vid00002":
            raise DatasetError(f"cannot read {video.path}/000003.png (image file is truncated)")
        return real(model, video, *args)

    monkeypatch.setattr(evaluation, "_reconstruct_video", fails_on_vid2)
    out = tmp_path / "out"
    argv = ["reconstruct", "--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out),
            "--batch-size", "2", "--device", "cpu", "--workers", "0", "--precision", "fp32"]
    assert main(argv) == 3
    captured = capsys.readouterr()
    assert "vid00002: cannot read" in captured.err and "3 videos scored, 0 already, 1 failed; 3 of 4" in captured.out
    assert not (out / "metrics.json").exists()
    monkeypatch.setattr(evaluation, "_reconstruct_video", real)  # the file repaired
    assert main(argv) == 3  # failed videos are left alone without --retry-failed
    assert "0 videos scored, 3 already, 1 failed (1 in earlier runs); 3 of 4" in capsys.readouterr().out
    assert main([*argv, "--retry-failed"]) == 0
    assert _numbers(json.loads((out / "metrics.json").read_text())) == _numbers(single_process)
