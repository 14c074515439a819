"""``reconstruct --out`` never mixes with earlier results: they are replaced only with --overwrite (and
only once the new ones are complete), a folder fomm did not write is never replaced, and videos whose
names differ only by extension get distinct outputs."""

from __future__ import annotations

import json

import pytest

from fomm.cli.main import main
from fomm.evaluation.reconstruct import reconstruct, video_output_names
from fomm.io import VideoReader
from fomm.io.outputs import OutputError
from tests.animation.helpers import SIZE
from tests.media import make_video


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("recon")
    (root / "train").mkdir()
    (root / "test").mkdir()
    make_video(root / "test" / "a.mp4", n=3, size=(SIZE, SIZE))
    make_video(root / "test" / "a.avi", n=2, size=(SIZE, SIZE))
    return root


def test_output_names_are_distinct():
    assert video_output_names(["a.mp4", "b.mp4", "c"]) == ["a", "b", "c"]
    assert video_output_names(["a.mp4", "a.avi", "A.mkv", "b"]) == ["a_mp4", "a_avi", "A_mkv", "b"]
    assert video_output_names(["x_mp4", "x.mp4", "x.avi"]) == ["x_mp4", "x_mp4-2", "x_avi"]


def test_videos_differing_by_extension_do_not_overwrite_each_other(model, data, tmp_path):
    result = reconstruct(model, data, out_dir=tmp_path, save_videos="prediction")
    frames = {}
    for video in result.videos:
        with VideoReader(video.output) as reader:
            frames[video.name] = len(list(reader))
    assert frames == {"a.avi": 2, "a.mp4": 3}
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == [".fomm-output", "a_avi.mp4", "a_mp4.mp4"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert sorted(v["video"] for v in saved["videos"]) == sorted(str(tmp_path / "videos" / n)
                                                                 for n in ("a_avi.mp4", "a_mp4.mp4"))


def test_earlier_results_are_kept_without_overwrite(model, data, tmp_path):
    reconstruct(model, data, out_dir=tmp_path, save_videos="prediction")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for save in ("prediction", None):
        with pytest.raises(OutputError, match="metrics.json exists; pass --overwrite"):
            reconstruct(model, data, out_dir=tmp_path, save_videos=save)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    # --overwrite replaces the earlier results, videos included: they would not match the new metrics
    reconstruct(model, data, out_dir=tmp_path, save_videos=None, overwrite=True, max_videos=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    assert json.loads((tmp_path / "metrics.json").read_text())["num_videos"] == 1


def test_a_videos_folder_fomm_did_not_write_is_never_replaced(model, data, tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "holiday.mp4").write_bytes(b"the user's video")
    with pytest.raises(OutputError, match=r"videos holds 1 entry fomm did not write \(holiday.mp4\)"):
        reconstruct(model, data, out_dir=tmp_path, save_videos="prediction", overwrite=True)
    assert [p.name for p in tmp_path.rglob("*")] == ["videos", "holiday.mp4"]


def test_cli_refuses_before_any_work(data, tmp_path, capsys, checkpoint_file):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    code = main(["reconstruct", "--checkpoint", str(checkpoint_file), "--data", str(data), "--out", str(out),
                 "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("fomm reconstruct: error: ") and "metrics.json exists; pass --overwrite" in err
    assert (out / "metrics.json").read_text() == "{}"


@pytest.fixture(scope="module")
def checkpoint_file(golden, tmp_path_factory):
    from tests.animation.helpers import tiny_checkpoint

    return tiny_checkpoint(golden, tmp_path_factory.mktemp("ckpt"))
