"""The overwrite rules of every fomm command, in one place.

- A file output appears whole or not at all: it is written to a hidden temporary file beside it,
  ``.<name>.partial<suffix>`` (:func:`partial_path`), and renamed onto the output when complete.
  A process killed with SIGKILL cannot remove its temporary file; the next run writing the same
  output removes it before starting, and nothing else is ever named that way.
- An existing output is replaced only with ``overwrite=True`` (``--overwrite``).
- A folder is replaced (or cleared) only when fomm made it: it holds the marker file
  :data:`MARKER`, or nothing but what the command itself writes (``legacy`` name patterns, for
  folders written before the marker existed). Anything else is refused, ``overwrite`` or not, with
  a message naming what is in the way.
- An input is never deleted or written to: an output that is an input, or a folder to be replaced
  that holds an input, is refused whatever the options.
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import FommError

logger = logging.getLogger(__name__)

MARKER = ".fomm-output"  # written inside every folder fomm creates as an output; hidden, so no reader lists it
MAX_NAMED = 5  # entries named in a refusal
PARTIAL_PATTERN = ".*.partial*"  # the names of partial_path


class OutputError(FommError, FileExistsError):
    """An output cannot be written where asked: it exists, it is not fomm's, or it is an input.

    (Also a ``FileExistsError``, so code that caught the builtin keeps working.)"""


def partial_path(path: str | Path) -> Path:
    """The hidden temporary name an output is written under before it is renamed onto ``path``:
    ``dir/.name.partial.ext`` for ``dir/name.ext`` (the suffix kept so that writers that pick a
    format by extension still do); ``dir/.name.partial`` for a folder."""
    path = Path(path)
    return path.parent / f".{path.name}.partial{path.suffix}"


def remove_path(path: Path) -> None:
    """Remove a file, a link or a folder tree; nothing if absent. Only for fomm's own temporary paths."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _is_same_or_inside(path: Path, folder: Path) -> bool:
    """True if ``path`` is ``folder`` or lies inside it (links resolved)."""
    path, folder = _resolved(path), _resolved(folder)
    return path == folder or folder in path.parents


def _resolved(path: str | Path) -> Path:
    return Path(os.path.abspath(os.path.realpath(path)))


def check_not_input(output: str | Path, inputs: Iterable[str | Path | None], *, replaces_folder: bool = False,
                    option: str = "") -> None:
    """Refuse an ``output`` that is one of ``inputs`` or, when the output folder is to be replaced or
    cleared (``replaces_folder``), that holds one of them. ``option`` names the output's flag in messages."""
    output = Path(output)
    name = f"{option} {output}".strip()
    for item in inputs:
        if item is None or not Path(item).exists():  # e.g. a model name rather than a file
            continue
        item = Path(item)
        if _resolved(output) == _resolved(item):
            raise OutputError(f"{name} is also an input ({item}); fomm never writes to an input: choose "
                              "another output")
        if replaces_folder and _is_same_or_inside(item, output):
            raise OutputError(f"{name} holds the input {item}, which replacing the folder would delete; "
                              "choose another output or move the input out of it first")


def shown(path: str | Path, limit: int = 240) -> str:
    """``path`` for a message: a name longer than ``limit`` characters is cut in the middle."""
    text = os.fspath(path)
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 3:]}"


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no limit given
        return 255


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long to look up
        return False


def check_writable(path: str | Path, option: str = "") -> None:
    """Refuse, before any work, an output the file system will not take: a name too long for it (the
    output is first written as :func:`partial_path`, 9 to 10 bytes longer), or a folder that refuses new
    files (permissions, a read-only disk). The first existing folder on the way is tried for real: the
    temporary file is created and removed at once."""
    path = Path(os.path.abspath(path))
    name = f"{option} {shown(path)}".strip()
    existing = path.parent
    while not _exists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{name}: {shown(existing)} is a file, not a folder; choose another output")
    limit = _name_max(existing)
    for part in (*path.relative_to(existing).parts, partial_path(path).name):
        if len(os.fsencode(part)) > limit:
            raise OutputError(f"{name}: the name is too long ({len(os.fsencode(part))} bytes with fomm's temporary "
                              f"name; this file system allows at most {limit} bytes): choose a shorter name")
    probe = existing / partial_path(path).name
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # a partial output a killed run left: the writer replaces it
    except OSError as exc:
        raise OutputError(f"{name}: cannot write there ({exc.strerror} in {shown(existing)}); check the "
                          "permissions or choose another output") from None
    os.close(descriptor)
    probe.unlink()


def check_output_name(path: str | Path, option: str = "", kind: str = "file") -> None:
    """Refuse an output spelling that is no name for a ``kind`` ("file" or "folder"): ``-`` (standard
    output, which these outputs cannot go to), a name ending with a dot (Windows drops the dot, so a
    typo would write another file than asked), a file name that is only an extension."""
    text = os.fspath(path)
    name = Path(text).name
    label = f"{option} {shown(text)}".strip()
    if text == "-":
        raise OutputError(f"{label}: this output cannot go to standard output; give a {kind} name")
    if name.endswith(".") and name.strip("."):
        raise OutputError(f"{label} ends with a dot; did you mean {shown(text.rstrip('.'))}?")
    if kind == "file" and name.startswith(".") and name.count(".") == 1:
        raise OutputError(f"{label} is only an extension; give a name, e.g. out{name}")


def check_file_output(path: str | Path, *, overwrite: bool, inputs: Iterable[str | Path | None] = (),
                      option: str = "") -> Path:
    """Check that a file can be written at ``path`` (a name: :func:`check_output_name`; nothing there,
    or ``overwrite`` and a file that is no input, in a folder that takes it: :func:`check_writable`);
    raises :class:`OutputError` naming the fix otherwise."""
    check_output_name(path, option)
    path = Path(path)
    check_writable(path, option)
    check_not_input(path, inputs, option=option)
    name = f"{option} {shown(path)}".strip()
    if path.is_dir():
        raise OutputError(f"{name} is a folder; give a file name or choose another output")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputError(f"{name} exists; pass --overwrite to replace it")
    return path


def foreign_entries(folder: Path, legacy: Sequence[str] = ()) -> list[str]:
    """The names in ``folder`` that fomm did not write: all of them unless the folder holds
    :data:`MARKER`, minus those matching a ``legacy`` pattern (and fomm's own temporary names)."""
    names = sorted(os.listdir(folder))
    if MARKER in names:
        return []
    return [n for n in names if not any(fnmatch.fnmatchcase(n, p) for p in (*legacy, PARTIAL_PATTERN))]


def check_folder_output(path: str | Path, *, overwrite: bool, inputs: Iterable[str | Path | None] = (),
                        legacy: Sequence[str] = (), option: str = "") -> Path:
    """Check that the folder ``path`` may be created, or replaced as a whole: absent, empty, or made by
    fomm (see :func:`foreign_entries`) with ``overwrite``, holding no input, in a folder that takes
    it (:func:`check_writable`)."""
    check_output_name(path, option, kind="folder")
    path = Path(path)
    check_writable(path, option)
    name = f"{option} {path}".strip()
    check_not_input(path, inputs, replaces_folder=True, option=option)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"{name} is a file, not a folder; remove it or choose another output")
    if not path.exists() or not any(path.iterdir()):
        return path
    foreign = foreign_entries(path, legacy)
    if foreign:
        listed = ", ".join(foreign[:MAX_NAMED]) + (", ..." if len(foreign) > MAX_NAMED else "")
        what = "entry" if len(foreign) == 1 else "entries"
        raise OutputError(f"{name} holds {len(foreign)} {what} fomm did not write ({listed}); fomm replaces only "
                          "folders it made: choose another output or remove them")
    if not overwrite:
        raise OutputError(f"{name} exists; pass --overwrite to replace it")
    return path


def mark_folder(folder: Path, what: str) -> None:
    """Write :data:`MARKER` into ``folder``: fomm made it (``what`` says which command or writer)."""
    (folder / MARKER).write_text(f"written by fomm ({what}); fomm may replace this folder with --overwrite\n")


def clear_folder(folder: Path, patterns: Sequence[str]) -> list[Path]:
    """Remove the entries of a fomm-made ``folder`` matching ``patterns`` (a run folder being reused);
    call :func:`check_folder_output` first. Returns what was removed."""
    removed = []
    for entry in sorted(folder.iterdir()):
        if any(fnmatch.fnmatchcase(entry.name, p) for p in patterns):
            remove_path(entry)
            removed.append(entry)
    return removed


RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file's data, or a folder's entries) to the disk."""
    if path.is_dir() and os.name == "nt":
        return  # Windows cannot open a folder to flush it
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder``, then each folder after its contents: before a rename publishes
    it, so a power cut never leaves the new name on empty or half-written files."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            fsync_path(Path(root) / name)
        fsync_path(Path(root))


def publish_folder(new: Path, target: Path, what: str) -> None:
    """Move the complete folder ``new`` onto ``target``, marked as fomm's (``what`` made it).

    An existing ``target`` (already checked with :func:`check_folder_output`) is swapped out in one
    atomic exchange where the system has one (Linux), so a reader or a kill -9 sees the old folder or
    the new one, never neither; elsewhere it is moved aside to ``.<name>.old`` first. The old folder is
    then deleted. Everything in ``new`` is flushed to the disk before, the rename after (:func:`fsync_tree`)."""
    mark_folder(new, what)
    fsync_tree(new)
    if not target.exists():
        os.replace(new, target)
    elif _exchange(new, target):
        remove_path(new)  # now the old folder
    else:
        old = target.parent / f".{target.name}.old"
        remove_path(old)
        os.replace(target, old)
        os.replace(new, target)
        remove_path(old)
    fsync_path(target.parent)
