"""Library-level writes checked against what a user would see on disk, not against the code's own
results (issue 30): the library call itself (not only the CLI's pre-check) keeps a user's files, the
non-Linux fallback of ``publish_folder`` leaves nothing behind, the data is flushed to disk before the
name points at it, and the exact messages and names of the overwrite rules.

Planted bugs these tests catch (each tried by hand, see docs/testing.md):
- ``export_onnx``'s legacy-file pattern widened to ``*``: a user's ``notes.txt`` deleted by
  ``export_onnx(..., overwrite=True)`` -> ``test_export_onnx_from_python_keeps_a_users_notes``;
- the fallback of ``publish_folder`` not removing ``.<name>.old`` -> ``test_publish_folder_fallback_...``;
- ``atomic_path`` without its ``fsync`` calls, or with them after the rename -> ``test_atomic_path_flushes_...``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fomm.io import VideoWriter, atomic_path
from fomm.io import outputs as outputs_module
from fomm.io import paths as paths_module
from fomm.io.errors import MediaError
from fomm.io.outputs import (
    MARKER,
    OutputError,
    check_file_output,
    check_folder_output,
    check_not_input,
    clear_folder,
    foreign_entries,
    mark_folder,
    partial_path,
    publish_folder,
    remove_path,
)
from fomm.io.paths import is_image_path, is_video_path, list_frames, natural_key, require_exists

FRAME = np.full((16, 16, 3), 120, np.uint8)


# ------------------------------------------------------------------------------ export_onnx from Python
@pytest.mark.parametrize("with_old_export", [False, True])
def test_export_onnx_from_python_keeps_a_users_notes(golden, tmp_path, with_old_export):
    """The library call, not the CLI: a folder holding a user's notes.txt (beside an old export's files
    or alone) is refused with overwrite=True and stays exactly as it was."""
    import fomm
    from fomm.export import export_onnx

    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    if with_old_export:
        (folder / "keypoints.onnx").write_bytes(b"old graph")
        (folder / "fomm-onnx.json").write_text("{}")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    model = fomm.load_model(golden / "tiny-cpk.pth.tar", device="cpu")
    with pytest.raises(OutputError, match=r"holds 1 entry fomm did not write \(notes.txt\)"):
        export_onnx(model, folder, size=128, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["exported"]  # no temporary folder left


# ------------------------------------------------------------------------------ publish_folder
def _folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def _listing(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(path.iterdir())}


@pytest.mark.parametrize("exchange", [True, False], ids=["linux-exchange", "fallback"])
def test_publish_folder_fallback_replaces_the_old_folder_and_leaves_nothing_behind(tmp_path, monkeypatch, exchange):
    """Where the system has no atomic exchange (macOS, Windows, old kernels) the old folder is moved
    aside to .<name>.old first; after publishing, only the new folder is there, marked as fomm's."""
    if not exchange:
        monkeypatch.setattr(outputs_module, "_exchange", lambda a, b: False)
    target = _folder(tmp_path / "out", {"000000.png": "old frame", "000001.png": "old frame 2", MARKER: "x"})
    new = _folder(tmp_path / ".out.partial", {"000000.png": "new frame"})
    publish_folder(new, target, "a test")
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no .out.old, no .out.partial
    listing = _listing(target)
    assert listing.pop(MARKER) == "written by fomm (a test); fomm may replace this folder with --overwrite\n"
    assert listing == {"000000.png": "new frame"}


def test_publish_folder_fallback_clears_a_stale_old_folder(tmp_path, monkeypatch):
    """A .<name>.old left by a run killed mid-swap is removed, not refused or nested."""
    monkeypatch.setattr(outputs_module, "_exchange", lambda a, b: False)
    target = _folder(tmp_path / "out", {"a.png": "old"})
    _folder(tmp_path / ".out.old", {"stale.png": "stale"})
    publish_folder(_folder(tmp_path / "new", {"b.png": "new"}), target, "t")
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert sorted(os.listdir(target)) == [MARKER, "b.png"]


def test_publish_folder_onto_nothing_moves_it(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs_module, "_exchange", lambda a, b: pytest.fail("nothing to exchange with"))
    publish_folder(_folder(tmp_path / "new", {"a.png": "1"}), tmp_path / "out", "t")
    assert sorted(os.listdir(tmp_path)) == ["out"] and sorted(os.listdir(tmp_path / "out")) == [MARKER, "a.png"]


def test_exchange_swaps_two_folders_on_linux(tmp_path):
    a, b = _folder(tmp_path / "a", {"x": "from a"}), _folder(tmp_path / "b", {"y": "from b"})
    assert outputs_module._exchange(a, b) is True
    assert _listing(a) == {"y": "from b"} and _listing(b) == {"x": "from a"}


def test_exchange_reports_other_errors(tmp_path):
    with pytest.raises(OSError) as caught:
        outputs_module._exchange(tmp_path / "missing", _folder(tmp_path / "b", {}))
    assert caught.value.errno == 2 and caught.value.filename == str(tmp_path / "b")


def test_exchange_is_false_where_the_system_cannot(tmp_path, monkeypatch):
    import ctypes
    import errno

    class NoRenameat2:
        def __init__(self, *args, **kwargs):
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoRenameat2)  # no renameat2 symbol (macOS, Windows)
    assert outputs_module._exchange(tmp_path / "a", tmp_path / "b") is False

    for code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        class Failing:
            def __init__(self, *args, code=code, **kwargs):
                self.renameat2 = lambda *a: -1
                self.code = code

        monkeypatch.setattr(ctypes, "CDLL", Failing)
        monkeypatch.setattr(ctypes, "get_errno", lambda code=code: code)
        assert outputs_module._exchange(tmp_path / "a", tmp_path / "b") is False


# ------------------------------------------------------------------------------ fsync
@pytest.fixture
def disk_events(monkeypatch):
    """Every fsync (with the path it flushed and that path's content at that moment) and rename, in order."""
    events: list[tuple] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        events.append(("fsync", path, path.read_bytes() if path.is_file() else None))
        real_fsync(fd)

    def replace(a, b):
        events.append(("replace", Path(a), Path(b)))
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_atomic_path_flushes_the_data_before_the_rename_and_the_folder_after(tmp_path, disk_events):
    target = tmp_path / "log.txt"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"complete content")
    tmp = partial_path(target)
    assert disk_events == [("fsync", tmp, b"complete content"), ("replace", tmp, target),
                           ("fsync", tmp_path, None)]
    assert target.read_bytes() == b"complete content"


def test_atomic_path_skips_only_the_folder_flush_on_windows(tmp_path, disk_events, monkeypatch):
    class Windows:  # os as fomm.io.paths sees it on Windows (pathlib keeps the real one)
        name = "nt"

        def __getattr__(self, attribute):
            return getattr(os, attribute)

    monkeypatch.setattr(paths_module, "os", Windows())
    monkeypatch.setattr(outputs_module, "os", Windows())  # fsync_path, which atomic_path calls
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    assert [e[0] for e in disk_events] == ["fsync", "replace"]  # the file flushed, the folder cannot be


def test_atomic_path_failure_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert sorted(os.listdir(tmp_path)) == ["a.txt"] and target.read_text() == "old"


def test_atomic_path_makes_the_folder_and_gives_the_usual_mode(tmp_path):
    target = tmp_path / "new" / "deeper" / "a.bin"
    old = os.umask(0o027)
    try:
        assert paths_module._read_umask() == 0o027 and os.umask(0o027) == 0o027  # read, and left as it was
    finally:
        os.umask(old)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"1")
        tmp.chmod(0o600)  # as safetensors does
    assert target.read_bytes() == b"1"
    assert target.stat().st_mode & 0o777 == 0o666 & ~paths_module._UMASK


# ------------------------------------------------------------------------------ the overwrite rules
def test_partial_path_names():
    assert partial_path("/a/b/clip.mp4") == Path("/a/b/.clip.mp4.partial.mp4")
    assert partial_path("/a/frames") == Path("/a/.frames.partial")


def test_remove_path_removes_files_links_and_trees_only_what_is_named(tmp_path):
    keep = _folder(tmp_path / "keep", {"k": "1"})
    tree = _folder(tmp_path / "tree", {"a": "1"})
    _folder(tree / "sub", {"b": "2"})
    link = tmp_path / "link"
    link.symlink_to(keep, target_is_directory=True)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    file = tmp_path / "file"
    file.write_text("x")
    for path in (tree, link, dangling, file, tmp_path / "absent"):
        remove_path(path)
    assert sorted(os.listdir(tmp_path)) == ["keep"] and _listing(keep) == {"k": "1"}


def test_file_output_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short relative names: messages cut long paths in the middle
    existing = Path("out.mp4")
    existing.write_text("x")
    with pytest.raises(OutputError) as caught:
        check_file_output(existing, overwrite=False, option="-o")
    assert str(caught.value) == "-o out.mp4 exists; pass --overwrite to replace it"
    assert check_file_output(existing, overwrite=True) == existing
    assert check_file_output("new.mp4", overwrite=False) == Path("new.mp4")
    Path("folder").mkdir()
    with pytest.raises(OutputError) as caught:
        check_file_output("folder", overwrite=True)
    assert str(caught.value) == "folder is a folder; give a file name or choose another output"
    link = Path("dangling.mp4")
    link.symlink_to(tmp_path / "nowhere.mp4")
    with pytest.raises(OutputError, match="exists"):
        check_file_output(link, overwrite=False)
    with pytest.raises(OutputError) as caught:
        check_file_output(existing, overwrite=True, inputs=[None, "vox-256", existing], option="-o")
    assert str(caught.value) == ("-o out.mp4 is also an input (out.mp4); fomm never writes to an input: "
                                 "choose another output")


def test_an_input_reached_through_a_link_is_still_an_input(tmp_path):
    real = tmp_path / "real.mp4"
    real.write_text("x")
    link = tmp_path / "link.mp4"
    link.symlink_to(real)
    with pytest.raises(OutputError, match="is also an input"):
        check_not_input(link, [real])
    check_not_input(tmp_path / "other.mp4", [real])  # a different file is fine


def test_folder_output_messages(tmp_path):
    folder = _folder(tmp_path / "frames", {"clip.mp4": "x"})
    inside = folder / "clip.mp4"
    with pytest.raises(OutputError) as caught:
        check_folder_output(folder, overwrite=True, inputs=[inside], option="-o")
    assert str(caught.value) == (f"-o {folder} holds the input {inside}, which replacing the folder would delete; "
                                 "choose another output or move the input out of it first")
    with pytest.raises(OutputError, match="is also an input"):
        check_folder_output(folder, overwrite=True, inputs=[folder])
    check_not_input(folder, [inside])  # only replacing the folder endangers what it holds
    with pytest.raises(OutputError) as caught:
        check_folder_output(inside, overwrite=True)
    assert str(caught.value) == f"{inside} is a file, not a folder; remove it or choose another output"
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_folder_output(link, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_folder_output(empty, overwrite=False) == empty
    assert check_folder_output(str(tmp_path / "absent"), overwrite=False) == tmp_path / "absent"


def test_folder_refusals_name_one_entry_or_five_and_more(tmp_path):
    one = _folder(tmp_path / "one", {"a.txt": "1"})
    with pytest.raises(OutputError) as caught:
        check_folder_output(one, overwrite=True)
    assert str(caught.value) == (f"{one} holds 1 entry fomm did not write (a.txt); fomm replaces only folders it "
                                 "made: choose another output or remove them")
    five = _folder(tmp_path / "five", {f"{i}.txt": "1" for i in range(5)})
    with pytest.raises(OutputError, match=r"holds 5 entries fomm did not write \(0.txt, 1.txt, 2.txt, 3.txt, 4.txt\);"):
        check_folder_output(five, overwrite=True)


def test_fommS_own_folder_needs_overwrite(tmp_path):
    folder = _folder(tmp_path / "run", {"000000.png": "x"})
    mark_folder(folder, "t")
    with pytest.raises(OutputError) as caught:
        check_folder_output(folder, overwrite=False, option="-o")
    assert str(caught.value) == f"-o {folder} exists; pass --overwrite to replace it"
    assert check_folder_output(folder, overwrite=True) == folder


def test_foreign_entries_legacy_patterns_are_case_sensitive_and_partials_are_fommS(tmp_path):
    folder = _folder(tmp_path / "f", {"000001.png": "", "NOTES.PNG": "", ".x.partial.mp4": "", "z.txt": ""})
    assert foreign_entries(folder, ["*.png"]) == ["NOTES.PNG", "z.txt"]
    assert foreign_entries(folder, ["*.png", "*.PNG", "*.txt"]) == []
    mark_folder(folder, "t")
    assert foreign_entries(folder) == []


def test_clear_folder_removes_only_what_matches(tmp_path):
    folder = _folder(tmp_path / "run", {"log.txt": "", "a.pth": "", "notes.md": ""})
    _folder(folder / "vis", {"1.png": ""})
    removed = clear_folder(folder, ["*.pth", "vis", "log.txt"])
    assert removed == [folder / "a.pth", folder / "log.txt", folder / "vis"]
    assert sorted(os.listdir(folder)) == ["notes.md"]


# ------------------------------------------------------------------------------ paths
def test_kinds_by_extension_any_case():
    assert all(is_image_path(f"a{e}") for e in (".png", ".JPG", ".jpeg", ".webp", ".Bmp"))
    assert all(is_video_path(f"a{e}") for e in (".mp4", ".MOV", ".avi", ".mkv", ".webm", ".gif", ".m4v"))
    assert not is_image_path("a.mp4") and not is_video_path("a.png") and not is_video_path("frames")


def test_frames_in_natural_order_hidden_and_other_files_skipped(tmp_path):
    for name in ("frame10.png", "frame2.png", "Frame3.PNG", "frame1.jpg", ".frame0.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_frames(tmp_path)] == ["frame1.jpg", "frame2.png", "Frame3.PNG", "frame10.png"]
    assert natural_key("b10") > natural_key("B9") and natural_key("a2.png") == ("a", 2, ".png")


def test_require_exists_names_the_path_and_where_relative_paths_start(tmp_path):
    require_exists(tmp_path)
    with pytest.raises(MediaError) as caught:
        require_exists(tmp_path / "nope.mp4")
    assert str(caught.value) == (f"{tmp_path / 'nope.mp4'} not found; check the path (relative paths start at "
                                 f"{Path.cwd()})")


# ------------------------------------------------------------------------------ the writer's own files
def test_png_folder_writer_replaces_its_own_folder_through_the_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs_module, "_exchange", lambda a, b: False)
    out = tmp_path / "frames"
    for value, count in ((10, 3), (200, 1)):
        with VideoWriter(out, fps=5, overwrite=True) as writer:
            for _ in range(count):
                writer.write(np.full((8, 8, 3), value, np.uint8))
    assert sorted(os.listdir(tmp_path)) == ["frames"]
    assert sorted(os.listdir(out)) == [MARKER, "000000.png"]
