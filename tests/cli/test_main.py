"""`fomm --version` from the installed entry point, and `--device` checked before any work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fomm
from fomm.cli import main
from fomm.cli.common import CLIError, device_from_arg


def test_installed_entry_point_version():
    """The ``fomm`` script pip installed (not ``python -m``)."""
    script = Path(sys.executable).parent / "fomm"
    script = str(script) if script.exists() else shutil.which("fomm")
    assert script, "the fomm entry point is not installed (pip install -e .)"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and done.stdout.strip() == f"fomm {fomm.__version__}"
    assert fomm.__version__.count(".") == 2
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0


def test_a_cuda_device_past_the_last_one_is_refused_before_any_work(monkeypatch):
    """`--device cuda:1` on a one-GPU machine: one line naming the devices there, not a CUDA error later."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert fomm.api.select_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(CLIError, match=r"--device cuda:1: cuda:1 was requested but this machine has 1 CUDA device"):
        device_from_arg("cuda:1")
