"""Manifests, shards and the status file of ``fomm batch``: no model, no media decoding."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fomm.batch import ManifestError, Shard, ShardError, read_manifest
from fomm.batch.engine import make_plan, status_path_for
from fomm.batch.manifest import make_rows
from fomm.batch.status import (
    ERROR,
    OK,
    SKIPPED,
    Record,
    StatusBusyError,
    StatusFile,
    latest,
    read_records,
    status_files,
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_rows_typed_and_resolved(tmp_path):
    manifest = _write(tmp_path / "m.csv", "source,driving,output,mode,paste-back,size,best_frame,checkpoint\n"
                      "a.png,clips/x.mp4,,absolute,true,128,auto,\n"
                      "/abs/b.png,y.mp4,sub/r.gif,,no,,3,ck.pth\n")
    rows = read_manifest(manifest, tmp_path / "out")
    first, second = rows
    assert (first.source, first.driving) == (tmp_path / "a.png", tmp_path / "clips/x.mp4")
    assert first.output == tmp_path / "out" / "a__x.mp4"
    assert first.options == {"mode": "absolute", "paste_back": True, "size": 128, "best_frame": "auto"}
    assert first.checkpoint is None
    assert second.source == Path("/abs/b.png") and second.output == tmp_path / "out" / "sub/r.gif"
    assert second.options == {"paste_back": False, "best_frame": 3} and second.checkpoint == "ck.pth"
    assert [r.index for r in rows] == [0, 1]


def test_jsonl_and_a_crop_box(tmp_path):
    manifest = _write(tmp_path / "m.jsonl", json.dumps({"source": "a.png", "driving": "x.mp4", "crop": "1,2,30,30",
                                                         "keypoints": True}) + "\n\n")
    (row,) = read_manifest(manifest, tmp_path / "out", root=tmp_path / "media")
    assert row.source == tmp_path / "media" / "a.png"
    assert row.options["keypoints"] is True
    crop = row.options["crop"]
    assert (crop.x, crop.y, crop.w, crop.h) == (1, 2, 30, 30)


def test_the_original_pairs_list_is_a_manifest(tmp_path):
    """The original repository's data/taichi256.csv layout: distance,source,driving,frame."""
    manifest = _write(tmp_path / "taichi256.csv", "distance,source,driving,frame\n"
                      "3.54,ab28GAufK8o#000261#000596.mp4,aDyyTMUBoLE#000164#000351.mp4,0\n")
    (row,) = read_manifest(manifest, tmp_path / "out", root=tmp_path / "test")
    assert row.driving == tmp_path / "test" / "aDyyTMUBoLE#000164#000351.mp4"
    assert row.output.name == "ab28GAufK8o#000261#000596__aDyyTMUBoLE#000164#000351.mp4"
    assert row.options == {}


@pytest.mark.parametrize("text, message", [
    ("source,driving,moed\na.png,b.mp4,relative\n", "unknown column(s) moed"),
    ("source,output\na.png,x.mp4\n", "row 1 has no driving"),
    ("source,driving,output\na.png,b.mp4,same.mp4\nc.png,d.mp4,same.mp4\n", "rows 1 and 2 both write"),
    ("source,driving\n", "has no rows"),
])
def test_bad_manifests_are_refused_naming_the_problem(tmp_path, text, message):
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_manifest(_write(tmp_path / "m.csv", text), tmp_path / "out")


def test_default_names_stay_apart_when_stems_clash(tmp_path):
    records = [{"source": "a/face.png", "driving": "x/clip.mp4"}, {"source": "b/face.png", "driving": "x/clip.mp4"},
               {"source": "c/other.png", "driving": "x/clip.mp4"}]
    names = [r.output.name for r in make_rows(records, tmp_path, tmp_path)]
    assert len(set(names)) == 3 and names[2] == "other__clip.mp4"
    assert names == [r.output.name for r in make_rows(records[:2], tmp_path, tmp_path)] + [names[2]]  # position-free


def test_shards_cover_every_row_exactly_once(tmp_path):
    lines = "".join(f"s{i}.png,d{i}.mp4\n" for i in range(13))
    rows = read_manifest(_write(tmp_path / "m.csv", "source,driving\n" + lines), tmp_path / "out")
    parts = [Shard.parse(f"{i}/3").select(rows) for i in range(3)]
    indices = sorted(r.index for part in parts for r in part)
    assert indices == list(range(13))
    assert [len(p) for p in parts] == [5, 4, 4]
    assert Shard.parse("1/3").select(list(reversed(rows))) == list(reversed(parts[1]))  # by index, not position


def test_shard_defaults_from_launchers():
    assert Shard.from_env({"RANK": "2", "WORLD_SIZE": "4", "SLURM_ARRAY_TASK_ID": "9"}) == Shard(2, 4)
    assert Shard.from_env({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4",
                           "SLURM_ARRAY_TASK_MIN": "3"}) == Shard(2, 4)
    assert Shard.from_env({}) == Shard(0, 1)
    for text in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(ShardError, match="I/N"):
            Shard.parse(text)
    with pytest.raises(ShardError, match="RANK"):
        Shard.from_env({"RANK": "x", "WORLD_SIZE": "2"})
    assert status_path_for(Path("o"), Shard(1, 3)).name == "batch-status.shard-1-of-3.jsonl"


def _record(output: str, status: str, **fields) -> Record:
    return Record(0, "s.png", "d.mp4", output, status, **fields)


def test_status_file_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "batch-status.jsonl"
    with StatusFile(path) as status:
        status.append(_record("a.mp4", OK, frames=5, bytes=10))
    with path.open("a") as f:
        f.write('{"row": 1, "output": "b.mp4", "sta')  # a kill -9 in the middle of a write
    with StatusFile(path) as status:
        status.append(_record("b.mp4", ERROR, message="broken"))
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["status"] == ERROR
    records = read_records([path])
    assert [(r.output, r.status) for r in records] == [("a.mp4", OK), ("b.mp4", ERROR)]
    assert records[0].time.endswith("Z")


def test_one_batch_at_a_time_writes_a_status_file(tmp_path):
    path = tmp_path / "batch-status.jsonl"
    with StatusFile(path):
        with pytest.raises(StatusBusyError, match="another fomm batch"):
            StatusFile(path)
    with StatusFile(path):  # released with the first
        pass


def test_latest_state_per_row_keeps_ok_over_later_skips():
    state = latest([_record("a", OK, frames=4), _record("a", SKIPPED), _record("b", ERROR), _record("b", OK)])
    assert state["a"].status == OK and state["a"].frames == 4
    assert state["b"].status == OK


def test_plan_skips_finished_leaves_failed_and_validates_each_row(tmp_path):
    records = [{"source": "s.png", "driving": f"d{i}.mp4"} for i in range(4)] + \
              [{"source": "s.png", "driving": "d9.mp4", "mode": "sideways"}]
    rows = make_rows(records, tmp_path, tmp_path)
    done = rows[0].output
    done.write_bytes(b"x" * 7)  # recorded as written by this batch, with this size
    previous = {str(done): _record(str(done), OK, frames=3, bytes=7),
                str(rows[1].output): _record(str(rows[1].output), ERROR, message="no face")}
    plan = make_plan(rows, {}, "default", previous)
    assert [(r.output, r.status, r.frames) for r in plan.settled] == [
        (str(done), SKIPPED, 3), (str(rows[4].output), ERROR, 0)]
    assert "sideways" in plan.settled[1].message
    assert [r.output for r in plan.failed_before] == [str(rows[1].output)]
    assert sorted(j.row.index for j in plan.jobs) == [2, 3]
    retried = make_plan(rows, {}, "default", previous, retry_failed=True)
    assert sorted(j.row.index for j in retried.jobs) == [1, 2, 3]
    redo = make_plan(rows, {}, "default", previous, overwrite=True, retry_failed=True)
    assert sorted(j.row.index for j in redo.jobs) == [0, 1, 2, 3]


def test_a_foreign_file_at_an_output_is_not_taken_as_done(tmp_path):
    (row,) = make_rows([{"source": "s.png", "driving": "d.mp4"}], tmp_path, tmp_path)
    row.output.write_bytes(b"not a video")
    assert len(make_plan([row], {}, "default", {}).jobs) == 1  # animate_file then refuses to replace it


def test_status_files_of_a_folder_include_the_shards(tmp_path):
    for name in ("batch-status.jsonl", "batch-status.shard-0-of-2.jsonl", "other.jsonl"):
        (tmp_path / name).write_text("")
    assert [p.name for p in status_files(tmp_path)] == ["batch-status.jsonl", "batch-status.shard-0-of-2.jsonl"]
    assert status_files(tmp_path / "absent") == []
    assert os.path.basename(status_path_for(tmp_path, Shard())) == "batch-status.jsonl"


def test_workers_default_to_the_cpu_cores_and_never_exceed_the_jobs(monkeypatch):
    from fomm.batch import engine

    monkeypatch.setattr(engine, "available_cpus", lambda: 6)
    assert engine.worker_devices("cpu", None, 100) == ["cpu"] * 6
    assert engine.worker_devices("cpu", 3, 2) == ["cpu"] * 2
    assert engine.worker_devices("cpu", 1, 0) == ["cpu"]


@pytest.mark.parametrize("argv, message", [
    (["--mode", "sideways"], "mode"),  # the defaults are checked by AnimationOptions before any row
    (["--shard", "3/3"], "0 <= I < N"),
    (["--pairs-from", "data"], "give a MANIFEST or --pairs-from DATASET_DIR"),
    (["--device", "cuda:99"], "--device cuda:99"),
])
def test_cli_refuses_bad_batches_in_one_line(tmp_path, capsys, argv, message):
    from fomm.cli import main

    manifest = _write(tmp_path / "m.csv", "source,driving\na.png,b.mp4\n")
    assert main(["batch", str(manifest), "-o", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written
