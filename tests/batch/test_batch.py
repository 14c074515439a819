"""``fomm batch`` end to end with the bundled model on tiny clips: the same bytes as ``fomm animate``, bad rows
recorded while the rest completes, resume after kill -9, shards, and the Ray backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from fomm import batch
from fomm.batch.status import ERROR, OK, SKIPPED, read_records
from fomm.cli import main
from fomm.cli.batch import EXIT_SOME_FAILED
from fomm.io.outputs import PARTIAL_PATTERN
from tests.media import make_image, make_video

pytestmark = pytest.mark.slow

FRAMES = 4
SOURCES = [((64, 48), "RGB"), ((48, 64), "RGB"), ((64, 64), "L")]
DRIVING = [((64, 48), 25), ((64, 64), 30), ((48, 64), 25), ((80, 64), 24)]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """3 source images x 4 driving clips: a 12-row manifest with paths relative to its folder."""
    folder = tmp_path_factory.mktemp("media")
    for i, (size, mode) in enumerate(SOURCES):
        make_image(folder / f"source{i}.png", size=size, mode=mode)
    for j, (size, fps) in enumerate(DRIVING):
        make_video(folder / f"clip{j}.mp4", n=FRAMES + j % 2, size=size, fps=fps)
    rows = [f"source{i}.png,clip{j}.mp4\n" for i in range(len(SOURCES)) for j in range(len(DRIVING))]
    (folder / "pairs.csv").write_text("source,driving\n" + "".join(rows))
    return folder


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.mp4")}


@pytest.fixture(scope="module")
def local_batch(media, tmp_path_factory):
    """The 12 rows on 2 worker processes."""
    out = tmp_path_factory.mktemp("batch") / "out"
    summary = batch.run(media / "pairs.csv", out, workers=2)
    return out, summary


def test_two_workers_write_what_single_fomm_animate_runs_write(media, local_batch, tmp_path):
    out, summary = local_batch
    assert (summary.rows, summary.done, summary.skipped, summary.failed) == (12, 12, 0, 0) and summary.ok
    assert summary.frames == sum(FRAMES + j % 2 for j in range(len(DRIVING))) * len(SOURCES)
    written = _outputs(out)
    assert len(written) == 12
    for i in range(len(SOURCES)):
        for j in range(len(DRIVING)):
            reference = tmp_path / f"{i}-{j}.mp4"
            assert main(["animate", str(media / f"source{i}.png"), str(media / f"clip{j}.mp4"), "-o",
                         str(reference), "--precision", "fp32"]) == 0  # batch.run's default
            assert written[f"source{i}__clip{j}.mp4"] == reference.read_bytes(), (i, j)
    records = read_records([summary.status_path])
    assert sorted(r.row for r in records) == list(range(12)) and {r.status for r in records} == {OK}
    assert {r.worker for r in records} == {"0", "1"}  # both workers took rows
    assert all(r.bytes == (out / Path(r.output).name).stat().st_size for r in records)


def test_a_bad_row_is_recorded_and_the_others_complete_then_resume_and_retry(media, tmp_path, capsys):
    manifest = tmp_path / "pairs.csv"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(300))  # named like a video, is not one
    lines = (media / "pairs.csv").read_text().splitlines()
    lines[6] = f"source1.png,{broken}"
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    argv = ["batch", str(manifest), "-o", str(out), "--workers", "0", "--root", str(media)]
    assert main(argv) == EXIT_SOME_FAILED
    err = capsys.readouterr()
    assert f"row 6 ({out}/source1__broken.mp4)" in err.err and "broken.mp4" in err.err
    assert "12 rows: 11 done, 0 skipped, 1 failed" in err.out
    records = {r.row: r for r in read_records([out / "batch-status.jsonl"])}
    assert len(records) == 12 and records[5].status == ERROR and "\n" not in records[5].message
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".mp4") == sorted(
        f"source{i}__clip{j}.mp4" for i in range(3) for j in range(4) if (i, j) != (1, 1))
    assert not list(out.glob(PARTIAL_PATTERN))

    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    assert main(argv) == EXIT_SOME_FAILED  # a rerun: the 11 are skipped, the failed row left alone
    assert "12 rows: 0 done, 11 skipped, 1 failed (1 in earlier runs" in capsys.readouterr().out
    assert before == {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}

    manifest.write_text("\n".join(lines[:6] + ["source1.png,clip1.mp4"] + lines[7:]) + "\n")  # the row fixed
    assert main([*argv, "--retry-failed"]) == 0
    assert "12 rows: 1 done, 11 skipped, 0 failed" in capsys.readouterr().out
    last = read_records([out / "batch-status.jsonl"])[-12:]
    assert sorted(r.status for r in last) == [OK] + [SKIPPED] * 11


def test_kill_9_mid_batch_then_rerun_finishes_without_recomputing(media, tmp_path):
    out = tmp_path / "out"
    status = out / "batch-status.jsonl"
    command = [sys.executable, "-m", "fomm", "batch", str(media / "pairs.csv"), "-o", str(out), "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        if status.exists() and status.read_text().count('"status": "ok"') >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the batch ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1)
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.mp4")}
    time.sleep(3)  # the workers died with the batch: nothing more is written
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.mp4")} == finished
    assert 3 <= len(finished) < 12

    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    outputs = sorted(out.glob("*.mp4"))
    assert len(outputs) == 12 and not list(out.glob(PARTIAL_PATTERN))
    assert sorted(p.name for p in out.iterdir()) == sorted([p.name for p in outputs] + [status.name])
    for path in outputs:  # every output whole
        assert _frames(path) == FRAMES + int(path.stem[-1]) % 2, path
    for name, stamp in finished.items():  # the finished ones were not recomputed
        assert ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) == stamp
    records = read_records([status])
    ok = [Path(r.output).name for r in records if r.status == OK]
    assert len(ok) == len(set(ok))  # no output written twice
    rerun_records = records[-12:]
    assert sorted(Path(r.output).name for r in rerun_records) == sorted(p.name for p in outputs)
    assert {Path(r.output).name for r in rerun_records if r.status == SKIPPED} == set(finished)


def _copy_file(model, source, driving, output, options, *, overwrite=False, inputs=()):
    """A stand-in animation for the shard test: the driving clip copied to the output."""
    from fomm.io.paths import atomic_path

    with atomic_path(output) as tmp:
        tmp.write_bytes(Path(driving).read_bytes())
    return type("Result", (), {"frames": 1, "truncated": False, "notes": []})()


def _crash_on_clip1(model, source, driving, output, options, **kwargs):
    """A stand-in animation whose process dies (as if killed for memory) on the rows driven by clip1."""
    if Path(driving).name == "clip1.mp4":
        os._exit(9)
    return _copy_file(model, source, driving, output, options, **kwargs)


def test_a_worker_dying_mid_row_fails_that_row_alone(media, tmp_path):
    summary = batch.run(media / "pairs.csv", tmp_path / "out", workers=2, animate=_crash_on_clip1)
    failed = sorted(Path(r.output).name for r in summary.records if r.status == ERROR)
    assert failed == [f"source{i}__clip1.mp4" for i in range(3)]
    assert all("worker died" in r.message and "exit code 9" in r.message for r in summary.records
               if r.status == ERROR)
    assert (summary.done, summary.failed) == (9, 3)
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 9


def test_three_shards_cover_the_manifest_exactly_once(media, tmp_path, monkeypatch):
    out = tmp_path / "out"
    for index in range(3):
        monkeypatch.setenv("RANK", str(index))  # torchrun's variables choose the shard
        monkeypatch.setenv("WORLD_SIZE", "3")
        summary = batch.run(media / "pairs.csv", out, workers=0, animate=_copy_file, checkpoint="default")
        assert summary.rows == 4 and summary.ok
    files = sorted(out.glob("batch-status.shard-*-of-3.jsonl"))
    assert len(files) == 3
    rows = [r.row for r in read_records(files)]
    assert sorted(rows) == list(range(12))
    assert len(list(out.glob("*.mp4"))) == 12
    again = batch.run(media / "pairs.csv", out, workers=0, animate=_copy_file, shard="1/3")
    assert (again.done, again.skipped) == (0, 4)


def test_pairs_from_a_dataset_are_reproducible(tmp_path):
    test = tmp_path / "data" / "test"
    test.mkdir(parents=True)
    for k in range(4):
        make_video(test / f"id{k}#clip.mp4", n=2, size=(64, 64))
    first = batch.dataset_pairs(tmp_path / "data", tmp_path / "out", num_pairs=5, seed=3)
    assert [(r.source, r.driving) for r in first] == [
        (r.source, r.driving) for r in batch.dataset_pairs(tmp_path / "data", tmp_path / "out", num_pairs=5, seed=3)]
    assert len(first) == 5 and all(r.source.parent == test and r.driving.parent == test for r in first)
    summary = batch.run(None, tmp_path / "out", pairs_from=tmp_path / "data", num_pairs=2, seed=3, workers=0)
    assert summary.done == 2  # each source video's first frame animated
    assert all(_frames(p) == 2 for p in (tmp_path / "out").glob("*.mp4"))


def test_ray_backend_writes_the_same_outputs_and_status(media, local_batch, tmp_path):
    out = tmp_path / "out"
    summary = batch.run(media / "pairs.csv", out, ray="local", ray_options={"num_cpus": 2})
    local_out, local_summary = local_batch
    assert (summary.done, summary.failed) == (12, 0)
    assert _outputs(out) == _outputs(local_out)

    def essentials(path: Path) -> list[tuple]:
        return sorted((r.row, Path(r.output).name, r.status, r.frames, r.bytes) for r in read_records([path]))

    assert essentials(summary.status_path) == essentials(local_summary.status_path)
    assert json.loads(summary.status_path.read_text().splitlines()[0])["status"] == OK


def test_ray_missing_names_the_extra(media, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    assert main(["batch", str(media / "pairs.csv"), "-o", str(tmp_path / "out"), "--ray", "local"]) == 2
    assert "pip install 'fomm[ray]'" in capsys.readouterr().err


def test_a_folder_of_frames_output_is_resumed_too(media, tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"source": str(media / "source0.png"), "driving": str(media / "clip0.mp4"),
                                    "output": "frames/", "layout": "side-by-side"}) + "\n")
    first = batch.run(manifest, tmp_path / "out", workers=0)
    frames = sorted((tmp_path / "out" / "frames").glob("*.png"))
    assert first.done == 1 and len(frames) == FRAMES
    again = batch.run(manifest, tmp_path / "out", workers=0)
    assert (again.done, again.skipped) == (0, 1)
    assert sorted((tmp_path / "out" / "frames").glob("*.png")) == frames


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a row asking for GPU codecs where there are none")
def test_codec_device_is_a_row_option_and_a_missing_gpu_codec_fails_that_row(media, tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"source,driving,codec_device\n{media / 'source0.png'},{media / 'clip0.mp4'},cuda\n"
                        f"{media / 'source1.png'},{media / 'clip0.mp4'},\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-o", str(out), "--workers", "0", "--codec-device", "cpu"]) == \
        EXIT_SOME_FAILED
    records = {r.row: r for r in read_records([out / "batch-status.jsonl"])}
    assert records[0].status == ERROR and "codec_device='cuda': no NVDEC decoding" in records[0].message
    assert records[1].status == OK and _frames(out / "source1__clip0.mp4") == FRAMES
    assert main(["batch", str(manifest), "-o", str(out), "--codec-device", "nvidia"]) == 2
    assert "--codec-device must be one of auto, cpu, cuda, got 'nvidia'" in capsys.readouterr().err
