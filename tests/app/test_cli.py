"""``fomm app``'s startup refusals, before any web code is imported: one line, exit 2."""

from __future__ import annotations

import socket
import tempfile

import pytest

from fomm.cli import main


def test_a_port_in_use_is_named_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its work folder (and the stale ones it removes)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"fomm app: error: port {port} on 127.0.0.1 is in use (another server?); choose another "
                   "with --port N")
    assert list(tmp_path.iterdir()) == []  # refused before its work folder was made


@pytest.mark.parametrize("port", ["0", "65536", "100000", "-1", "http"])
def test_a_port_out_of_range_is_refused(port, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["app", "--port", port])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"argument --port: expected a port number from 1 to 65535, got '{port}'" in err


def test_a_host_that_is_not_this_machine_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["app", "--host", "192.0.2.1"]) == 2  # TEST-NET-1: never an address of this machine
    err = capsys.readouterr().err.strip()
    assert err.startswith("fomm app: error: --host 192.0.2.1 is not an address of this machine")
    assert "\n" not in err
