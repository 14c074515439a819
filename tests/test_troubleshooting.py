"""README's Troubleshooting section shows the messages the code gives today (scripts/troubleshooting.py
runs each mistake through the command line and writes the section)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("troubleshooting", REPO / "scripts" / "troubleshooting.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_readme_troubleshooting_matches_the_real_messages():
    script = _script()
    section = script.current_section((REPO / "README.md").read_text())
    assert section is not None, "README.md has no troubleshooting section: run python scripts/troubleshooting.py"
    generated = script.render()
    assert section == generated, "README.md's troubleshooting section is out of date: run python " \
                                 "scripts/troubleshooting.py"
    for case in script.CASES:  # every case is shown with the error line the CLI prints
        assert f"`fomm {' '.join(case.argv)}`" in section
    assert section.count(": error: ") == len(script.CASES)
