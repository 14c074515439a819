"""Each command loads its heavy modules only when it runs: ``fomm info`` and ``fomm --help`` load no
training stack, no data pipeline, no PyAV, no animation code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fomm.animation import LAYOUTS
from fomm.cli import animate as animate_cli
from tests.conftest import REPO

NOT_FOR_INFO = ("fomm.training", "fomm.data", "fomm.evaluation", "fomm.animation", "fomm.crop", "tensorboard", "av",
                "cv2", "scipy")


def _modules_after(argv: list[str]) -> set[str]:
    code = (f"import json, sys\nfrom fomm.cli.main import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n"
            "    pass\nprint(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    return set(json.loads(proc.stdout.splitlines()[-1]))


def _loaded(modules: set[str], prefixes) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("argv", [["info", "CKPT"], ["--help"]], ids=["info", "help"])
def test_info_and_help_load_no_heavy_modules(checkpoint, argv):
    modules = _modules_after([str(checkpoint) if a == "CKPT" else a for a in argv])
    assert "fomm.cli.info" in modules  # the commands were registered
    assert _loaded(modules, NOT_FOR_INFO) == []


def test_the_parser_knows_the_library_layouts():
    assert animate_cli.LAYOUTS == LAYOUTS
