"""Output spellings that are no name, for the outputs that are not videos (images, keypoints, an export
folder, a dataset folder): ``-``, a name ending with a dot, a file name that is only an extension. Each
is refused before any work, in one line that says what to give instead; nothing is written."""

from __future__ import annotations

import pytest

from fomm.cli import main
from tests.media import make_image


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return make_image(tmp_path_factory.mktemp("in") / "photo.png", size=(64, 64))


def _commands(golden, photo) -> dict:
    ckpt = str(golden / "tiny-cpk.pth.tar")
    return {
        "keypoints": (["keypoints", str(photo), "--checkpoint", ckpt, "-o"], "file"),
        "keypoints --overlay": (["keypoints", str(photo), "--checkpoint", ckpt, "--overlay"], "file"),
        "crop": (["crop", str(photo), "-o"], "file"),
        "export": (["export", ckpt, "-o"], "folder"),
        "synth": (["synth", "--videos", "1"], "folder"),
        "reconstruct": (["reconstruct", "--data", str(photo.parent), "--checkpoint", ckpt, "--out"], "folder"),
    }


CASES = [("-", "cannot go to standard output; give a {kind} name"), ("out.json.", "ends with a dot; did you mean "),
         ("out.png.", "ends with a dot; did you mean "), (".json", "is only an extension; give a name, e.g. out.json")]


FOLDERS = ("export", "synth", "reconstruct")
# keypoints -o - is its standard output (test_keypoints_dash_is_standard_output); a folder may be hidden
# (.json is a name for one).
REFUSED = [(command, name, words) for command in ("keypoints", "keypoints --overlay", "crop", *FOLDERS)
           for name, words in CASES
           if not (command == "keypoints" and name == "-") and not (command in FOLDERS and name == ".json")]


@pytest.mark.parametrize(("command", "name", "words"), REFUSED)
def test_no_name_is_refused_in_one_line(golden, photo, tmp_path, monkeypatch, capsys, command, name, words):
    argv, kind = _commands(golden, photo)[command]
    monkeypatch.chdir(tmp_path)
    assert main([*argv, name]) == 2
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if "using the bundled" not in line]
    assert len(lines) == 1 and "error: " in lines[0] and words.format(kind=kind) in lines[0], err
    if "did you mean" in words:
        assert f"did you mean {name.rstrip('.')}?" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_keypoints_dash_is_standard_output(golden, photo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["keypoints", str(photo), "--checkpoint", str(golden / "tiny-cpk.pth.tar"), "-o", "-"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("frame,kp,x,y") and len(rows) == 1 + 10  # a header and the 10 keypoints
    assert list(tmp_path.iterdir()) == []
