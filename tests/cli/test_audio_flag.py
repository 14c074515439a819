"""``fomm animate --audio`` takes an optional value, so the word after it is read as the value: before the
files, a file name there is refused in one line with the two ways to write it; every order that names
the value, or puts a bare --audio after the files, reads the same source, driving and choice."""

from __future__ import annotations

import pytest

from fomm.cli import main
from fomm.cli.main import build_parser


@pytest.mark.parametrize("argv, audio", [
    (["--audio", "driving", "face.png", "drive.mp4"], "driving"),
    (["--audio", "source", "face.png", "drive.mp4"], "source"),
    (["face.png", "--audio", "none", "drive.mp4"], "none"),
    (["face.png", "drive.mp4", "--audio"], "driving"),
    (["face.png", "drive.mp4", "--audio", "-o", "x.mp4"], "driving"),
    (["face.png", "drive.mp4", "--no-audio"], "none"),
    (["face.png", "drive.mp4"], None),
])
def test_every_order_reads_the_files_and_the_choice(argv, audio):
    args = build_parser(["animate"]).parse_args(["animate", *argv, "-o", "out.mp4"])
    assert (args.source, args.driving, args.audio) == ("face.png", "drive.mp4", audio)


@pytest.mark.parametrize("argv", [["--audio", "face.png", "drive.mp4"], ["face.png", "--audio", "drive.mp4"],
                                  ["--audio", "clips/face", "drive.mp4"]])
def test_a_file_read_as_the_value_is_refused_with_the_fix(argv, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    with pytest.raises(SystemExit) as exit_:
        main(["animate", *argv, "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err, err
    value = argv[argv.index("--audio") + 1]
    assert f"--audio: {value!r} looks like a file" in err and "(--audio driving SOURCE DRIVING)" in err
    assert "put --audio after the files" in err and not out.exists()


def test_other_values_are_refused_by_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["animate", "face.png", "drive.mp4", "--audio", "both", "-o", "out.mp4"])
    assert "invalid choice: 'both' (choose from 'driving', 'source', 'none')" in capsys.readouterr().err
