"""The overwrite rules (fomm.io.outputs) and the writers that follow them: a user's folder is never
replaced, an input never written to, a file output replaced whole."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from fomm.checkpoints import save_checkpoint
from fomm.errors import FommError
from fomm.io import VideoWriter, atomic_path
from fomm.io.outputs import (
    MARKER,
    OutputError,
    check_file_output,
    check_folder_output,
    partial_path,
    publish_folder,
)

FRAME = np.full((16, 16, 3), 200, np.uint8)


def _user_folder(path, n=3):
    path.mkdir()
    for i in range(n):
        (path / f"mine{i}.txt").write_text(f"user file {i}")
    return {p.name: p.read_bytes() for p in path.iterdir()}


def _contents(path):
    return {p.name: p.read_bytes() for p in path.iterdir()}


def test_a_user_folder_is_refused_even_with_overwrite(tmp_path):
    videos = tmp_path / "Videos"
    before = _user_folder(videos, 7)
    for overwrite in (False, True):
        with pytest.raises(OutputError) as caught:
            check_folder_output(videos, overwrite=overwrite)
        message = str(caught.value)
        assert "holds 7 entries fomm did not write (mine0.txt, mine1.txt, mine2.txt, mine3.txt, mine4.txt, ...)" \
            in message and "choose another output or remove them" in message
        assert isinstance(caught.value, FommError)
    assert _contents(videos) == before


def test_png_folder_writer_never_replaces_a_user_folder(tmp_path):
    """What `fomm animate face.png drive.mp4 -o Videos --overwrite` did: the user's files deleted."""
    videos = tmp_path / "Videos"
    before = _user_folder(videos)
    with pytest.raises(OutputError, match="fomm did not write"):
        VideoWriter(videos, fps=25, overwrite=True)
    assert _contents(videos) == before and os.listdir(tmp_path) == ["Videos"]


def test_png_folder_writer_replaces_its_own_folder_with_overwrite_only(tmp_path):
    frames = tmp_path / "frames"
    with VideoWriter(frames, fps=25) as writer:
        for _ in range(3):
            writer.write(FRAME)
    assert (frames / MARKER).is_file() and sorted(os.listdir(frames)) == [MARKER, "000000.png", "000001.png",
                                                                          "000002.png"]
    with pytest.raises(OutputError, match="pass --overwrite"):
        VideoWriter(frames, fps=25)
    with VideoWriter(frames, fps=25, overwrite=True) as writer:
        writer.write(FRAME)
    assert sorted(os.listdir(frames)) == [MARKER, "000000.png"] and os.listdir(tmp_path) == ["frames"]


def test_an_input_is_never_an_output(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"the user's video")
    with pytest.raises(OutputError, match="is also an input"):
        VideoWriter(clip, fps=25, overwrite=True, inputs=[clip])
    with pytest.raises(OutputError, match="is also an input"):
        VideoWriter(tmp_path / "." / "clip.mp4", fps=25, overwrite=True, audio_from=clip)  # same file, other spelling
    assert clip.read_bytes() == b"the user's video"


def test_a_folder_holding_an_input_is_never_replaced(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / MARKER).write_text("fomm")
    checkpoint = run / "x.pth.tar"
    checkpoint.write_bytes(b"weights")
    with pytest.raises(OutputError, match="holds the input"):
        check_folder_output(run, overwrite=True, inputs=[checkpoint])
    check_folder_output(run, overwrite=True, inputs=[tmp_path / "elsewhere.pth.tar"])  # absent inputs don't count


def test_file_output_rules(tmp_path):
    out = tmp_path / "out.mp4"
    check_file_output(out, overwrite=False)
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        check_file_output(out, overwrite=False)
    check_file_output(out, overwrite=True)
    with pytest.raises(OutputError, match="is a folder"):
        check_file_output(tmp_path, overwrite=True)


def test_atomic_path_replaces_whole_or_not_at_all(tmp_path):
    out = tmp_path / "kp.csv"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        assert tmp == partial_path(out) == tmp_path / ".kp.csv.partial.csv"
        tmp.write_text("half")
        raise RuntimeError
    assert out.read_text() == "old" and os.listdir(tmp_path) == ["kp.csv"]
    with atomic_path(out) as tmp:
        tmp.write_text("new")
    assert out.read_text() == "new" and os.listdir(tmp_path) == ["kp.csv"]


def test_atomic_output_gets_the_usual_mode_not_the_writers_private_one(tmp_path):
    """safetensors writes 0600 files: a converted checkpoint must be readable like any other file."""
    umask = os.umask(0o022)
    os.umask(umask)
    usual = 0o666 & ~umask
    assert usual & 0o044, "this test needs a umask that lets others read new files"
    out = tmp_path / "model.safetensors"
    with atomic_path(out) as tmp:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600))
    assert out.stat().st_mode & 0o777 == usual
    save_checkpoint(tmp_path / "real.safetensors", {"kp_detector": torch.nn.Linear(2, 2)})
    assert (tmp_path / "real.safetensors").stat().st_mode & 0o777 == usual


def test_a_stale_partial_file_is_removed_by_the_next_writer(tmp_path):
    """A kill -9 leaves the hidden temporary file; the next write of the same output removes it."""
    out = tmp_path / "out.gif"
    partial_path(out).write_bytes(b"left by a killed run")
    with VideoWriter(out, fps=10) as writer:
        writer.write(FRAME)
    assert os.listdir(tmp_path) == ["out.gif"]


def test_publish_folder_swaps_in_the_new_folder(tmp_path):
    target, new = tmp_path / "out", tmp_path / ".out.partial"
    target.mkdir()
    (target / "old.png").write_bytes(b"old")
    new.mkdir()
    (new / "new.png").write_bytes(b"new")
    publish_folder(new, target, "test")
    assert sorted(os.listdir(target)) == [MARKER, "new.png"] and os.listdir(tmp_path) == ["out"]


class _Disk:
    """Records, in order, the fsyncs (by path) and the renames, as the writers make them."""

    def __init__(self, monkeypatch):
        self.events: list[tuple[str, str]] = []
        fsync, replace = os.fsync, os.replace

        def recorded_fsync(fd):
            self.events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            fsync(fd)

        def recorded_replace(src, dst, **kwargs):
            self.events.append(("rename", os.fspath(dst)))
            replace(src, dst, **kwargs)

        monkeypatch.setattr(os, "fsync", recorded_fsync)
        monkeypatch.setattr(os, "replace", recorded_replace)

    def synced_before(self, path, event) -> bool:
        """``path`` was flushed (under any name) before ``event`` happened."""
        index = self.events.index(event)
        return any(kind == "fsync" and os.path.basename(p) == os.path.basename(path)
                   for kind, p in self.events[:index])


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to name a flushed descriptor")
@pytest.mark.parametrize("kind", ["out.mp4", "frames"])
def test_a_video_is_on_disk_before_its_name_and_the_name_after(tmp_path, monkeypatch, kind):
    """"Never half-written" holds through a power cut too: the data is flushed before the rename that
    publishes it, the folder holding the new name after."""
    disk = _Disk(monkeypatch)
    with VideoWriter(tmp_path / kind, fps=10) as writer:
        writer.write(FRAME)
    rename = ("rename", str(tmp_path / kind))
    assert rename in disk.events
    if kind == "frames":  # every frame file, and the folder holding them
        assert disk.synced_before("000000.png", rename) and disk.synced_before(MARKER, rename)
    assert disk.synced_before(partial_path(tmp_path / kind), rename)
    after = disk.events[disk.events.index(rename) + 1:]
    assert ("fsync", str(tmp_path)) in after


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to name a flushed descriptor")
def test_a_published_folder_replacing_another_is_flushed_first(tmp_path, monkeypatch):
    target, new = tmp_path / "out", tmp_path / ".out.partial"
    target.mkdir()
    (new / "sub").mkdir(parents=True)
    (new / "sub" / "a.bin").write_bytes(b"new")
    disk = _Disk(monkeypatch)
    publish_folder(new, target, "test")
    flushed = [p for kind, p in disk.events if kind == "fsync"]
    assert any(p.endswith("/sub/a.bin") for p in flushed) and any(p.endswith("/sub") for p in flushed)
    assert flushed[-1] == str(tmp_path)  # the exchange (or the renames) made durable
