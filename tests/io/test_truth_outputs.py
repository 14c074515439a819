"""The checks every output goes through (fomm/io/outputs.py), against what a user sees: the exact
one-line messages with the option that names the output, the names refused and the names taken, the
file system's own name limit counted in bytes, the first existing folder tried for real, long paths
cut in the middle, folders flushed after their contents, and the atomic exchange with relative names
(issue 30: written against the mutants that survived the earlier tests, see docs/testing.md).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fomm.io import outputs
from fomm.io.outputs import (
    OutputError,
    check_file_output,
    check_folder_output,
    check_not_input,
    check_output_name,
    check_writable,
    fsync_tree,
    shown,
)

CHECKS = [check_file_output, check_folder_output]


def _message(check, *args, **kwargs) -> str:
    with pytest.raises(OutputError) as caught:
        check(*args, **kwargs)
    return str(caught.value)


# ------------------------------------------------------------------------------ names
@pytest.mark.parametrize(("name", "expected"), [
    ("-", "-: this output cannot go to standard output; give a file name"),
    ("out.mp4.", "out.mp4. ends with a dot; did you mean out.mp4?"),
    ("TAX.", "TAX. ends with a dot; did you mean TAX?"),  # only the trailing dots go, not the letters
    ("X.", "X. ends with a dot; did you mean X?"),
    ("clip...", "clip... ends with a dot; did you mean clip?"),
    (".mp4", ".mp4 is only an extension; give a name, e.g. out.mp4"),
])
def test_names_that_are_no_file_name_are_refused_in_one_exact_line(name, expected):
    assert _message(check_output_name, name) == expected


def test_the_option_and_the_kind_are_named(tmp_path):
    assert _message(check_output_name, "-", "-o", "folder") == \
        "-o -: this output cannot go to standard output; give a folder name"
    assert _message(check_file_output, "-", overwrite=True, option="--out") == \
        "--out -: this output cannot go to standard output; give a file name"
    assert _message(check_folder_output, "-", overwrite=True, option="--out") == \
        "--out -: this output cannot go to standard output; give a folder name"
    assert _message(check_file_output, "a.png.", overwrite=True, option="-o") == \
        "-o a.png. ends with a dot; did you mean a.png?"
    assert _message(check_folder_output, "frames.", overwrite=True, option="-o") == \
        "-o frames. ends with a dot; did you mean frames?"


@pytest.mark.parametrize("name", [".", "..", "a.b", ".config.json", "-x", "out-", "a-.mp4"])
def test_real_file_names_are_taken(name):
    check_output_name(name)  # "." and "..": the current and the parent folder, no typo for anything


@pytest.mark.parametrize("name", [".", "..", ".cache", ".mp4", "frames"])
def test_a_hidden_folder_is_a_name_not_an_extension(name):
    check_output_name(name, kind="folder")


def test_a_hidden_folder_output_is_taken_by_the_folder_check(tmp_path):
    assert check_folder_output(tmp_path / ".cache", overwrite=False) == tmp_path / ".cache"
    assert _message(check_file_output, tmp_path / ".mp4", overwrite=False) == \
        f"{tmp_path / '.mp4'} is only an extension; give a name, e.g. out.mp4"


# ------------------------------------------------------------------------------ shown
def test_a_long_path_is_cut_in_the_middle_keeping_half_the_limit_before_and_a_third_after():
    head, middle, tail = "h" * 120, "m" * 41, "t" * 80
    assert shown(head + middle + tail) == head + "..." + tail  # 241 characters: over the default 240
    assert shown(head + "m" * 40 + tail) == head + "m" * 40 + tail  # 240: whole
    assert shown("abcdefghij", limit=9) == "abcd...hij"  # 9 // 2 = 4 before, 9 // 3 = 3 after
    assert shown(Path("/a/b")) == "/a/b"


# ------------------------------------------------------------------------------ writable
def test_a_name_too_long_is_counted_in_bytes_with_the_temporary_name(tmp_path):
    # .<name>.partial.mp4 is 1 + len(name) + 8 + 4 bytes: a 242-byte name makes exactly 255, the limit
    fits = tmp_path / ("x" * 238 + ".mp4")
    check_writable(fits)
    check_writable(tmp_path / ("d" * 255) / "out.mp4")  # a folder to be made, exactly at the limit
    assert sorted(os.listdir(tmp_path)) == []  # the probe was removed; nothing made
    over = tmp_path / ("x" * 239 + ".mp4")
    assert _message(check_writable, over) == (
        f"{shown(over)}: the name is too long (256 bytes with fomm's temporary name; this file system allows "
        "at most 255 bytes): choose a shorter name")
    wide = tmp_path / ("é" * 120 + ".mp4")  # 124 characters, 244 bytes: 257 with the temporary name
    assert "too long (257 bytes" in _message(check_writable, wide)


def test_the_too_long_message_names_the_option_in_every_check(tmp_path):
    over = tmp_path / ("x" * 300) / "out.mp4"  # a folder name too long to look up (ENAMETOOLONG)
    expected = (f"-o {shown(over)}: the name is too long (300 bytes with fomm's temporary name; this file system "
                "allows at most 255 bytes): choose a shorter name")
    for check in CHECKS:
        assert _message(check, over, overwrite=True, option="-o") == expected
    assert _message(check_writable, over, "-o") == expected
    assert _message(check_writable, over).startswith(f"{shown(over)}: the name is too long")


def test_the_file_systems_own_limit_is_used_and_255_where_it_gives_none(tmp_path, monkeypatch):
    real = os.pathconf

    def pathconf(path, name):
        if name != "PC_NAME_MAX":
            return real(path, name)  # raises ValueError for an unknown name, as os.pathconf does
        return 100

    monkeypatch.setattr(os, "pathconf", pathconf)
    check_writable(tmp_path / ("x" * 83 + ".mp4"))  # 100 bytes with the temporary name
    assert "(101 bytes with fomm's temporary name; this file system allows at most 100 bytes)" in \
        _message(check_writable, tmp_path / ("x" * 84 + ".mp4"))

    def no_limit(path, name):
        raise OSError(errno.EINVAL, "no limit")

    monkeypatch.setattr(os, "pathconf", no_limit)
    check_writable(tmp_path / ("x" * 238 + ".mp4"))  # 255 bytes with the temporary name: taken
    assert "(256 bytes with fomm's temporary name; this file system allows at most 255 bytes)" in \
        _message(check_writable, tmp_path / ("x" * 239 + ".mp4"))


def test_the_first_existing_folder_on_the_way_is_the_one_tried(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "out.mp4")  # folders still to be made
    assert os.listdir(tmp_path) == []
    (tmp_path / "notes.txt").write_text("a user's file")
    inside = tmp_path / "notes.txt" / "deeper" / "out.mp4"
    assert _message(check_writable, inside) == (
        f"{inside}: {tmp_path / 'notes.txt'} is a file, not a folder; choose another output")
    assert _message(check_file_output, inside, overwrite=True, option="-o").startswith(f"-o {inside}: ")


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux /sys")
def test_a_folder_refusing_new_files_is_named_with_the_fix():
    """/sys refuses new files even to root; the first existing folder, /sys/kernel, is the one named."""
    path = "/sys/kernel/new/fomm-out.mp4"
    assert _message(check_writable, path) == (
        f"{path}: cannot write there (Permission denied in /sys/kernel); check the permissions or choose "
        "another output")
    assert _message(check_folder_output, path, overwrite=True, option="-o").startswith(
        f"-o {path}: cannot write there (Permission denied in /sys/kernel)")


# ------------------------------------------------------------------------------ inputs
def test_an_input_beside_the_output_folder_is_no_reason_to_refuse_it(tmp_path):
    source = tmp_path / "photo.png"
    source.write_bytes(b"png")
    assert check_folder_output(tmp_path / "out", overwrite=False, inputs=[source]) == tmp_path / "out"
    check_not_input(tmp_path / "out", [source], replaces_folder=True)
    assert _message(check_not_input, source, [source]) == (
        f"{source} is also an input ({source}); fomm never writes to an input: choose another output")


# ------------------------------------------------------------------------------ fsync
def test_every_folder_is_flushed_after_everything_inside_it(tmp_path, monkeypatch):
    (tmp_path / "run" / "sub" / "deep").mkdir(parents=True)
    for name in ("run/a.txt", "run/sub/b.txt", "run/sub/deep/c.txt"):
        (tmp_path / name).write_text(name)
    flushed: list[Path] = []
    monkeypatch.setattr(outputs, "fsync_path", flushed.append)
    fsync_tree(tmp_path / "run")
    assert sorted(flushed) == sorted(tmp_path / n for n in ("run", "run/sub", "run/sub/deep", "run/a.txt",
                                                            "run/sub/b.txt", "run/sub/deep/c.txt"))
    for i, path in enumerate(flushed):
        assert all(path not in later.parents for later in flushed[i + 1:]), f"{path} flushed before its contents"


# ------------------------------------------------------------------------------ exchange
def test_exchange_swaps_folders_named_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"from-{name}").write_text(name)
    assert outputs._exchange(Path("a"), Path("b")) is True
    assert os.listdir(tmp_path / "a") == ["from-b"] and os.listdir(tmp_path / "b") == ["from-a"]


def test_exchange_errors_carry_the_systems_words(tmp_path):
    (tmp_path / "b").mkdir()
    with pytest.raises(OSError) as caught:
        outputs._exchange(tmp_path / "missing", tmp_path / "b")
    assert caught.value.strerror == os.strerror(errno.ENOENT) == "No such file or directory"
