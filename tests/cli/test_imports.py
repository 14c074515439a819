"""Each command loads its heavy modules only when it runs: ``fomm info`` loads no training stack, no
data pipeline, no PyAV, no animation or web code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fomm.animation import LAYOUTS
from fomm.cli import animate as animate_cli
from fomm.cli.main import COMMANDS, main
from tests.conftest import REPO

NOT_FOR_INFO = ("fomm.training", "fomm.data", "fomm.evaluation", "fomm.animation", "fomm.crop", "fomm.app",
                "fomm.live", "tensorboard", "av", "cv2", "scipy", "gradio")


def _modules_after(argv: list[str]) -> set[str]:
    code = (f"import json, sys\nfrom fomm.cli.main import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n"
            "    pass\nprint(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    return set(json.loads(proc.stdout.splitlines()[-1]))


def _loaded(modules: set[str], prefixes) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_info_loads_no_heavy_modules(checkpoint):
    modules = _modules_after(["info", str(checkpoint)])
    assert "fomm.cli.info" in modules
    assert _loaded(modules, NOT_FOR_INFO) == []


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in COMMANDS)


def test_the_parser_knows_the_library_layouts():
    assert animate_cli.LAYOUTS == LAYOUTS


def test_help_describes_the_live_keys_without_loading_live_mode():
    modules = _modules_after(["--help"])
    assert "fomm.cli.live" in modules and "fomm.live.commands" in modules
    assert _loaded(modules, ("fomm.live.session", "fomm.live.capture", "fomm.live.outputs")) == []
