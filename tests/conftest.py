"""Shared fixtures. The golden fixtures computed by the authors' code live in ``../shared/golden``
(override with FOMM_GOLDEN_DIR). Tests that need them fail, not skip, when they are missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def golden_dir() -> Path:
    return Path(os.environ.get("FOMM_GOLDEN_DIR", REPO.parent / "shared" / "golden"))


@pytest.fixture(scope="session")
def golden() -> Path:
    path = golden_dir()
    if not (path / "tiny-io.npz").exists():
        pytest.fail(f"golden fixtures not found in {path}: put ../shared beside the repository or set "
                    "FOMM_GOLDEN_DIR", pytrace=False)
    return path


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The test networks are tiny: one intra-op thread is as fast, and on a busy machine OpenMP threads
    that wait for each other at every op make them a hundred times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ the tiny model every test directory shares
@pytest.fixture(scope="module")
def model(golden):
    """A random-weight FOMM at 64 px built from the golden tiny config (see tests/animation/helpers.py);
    a module that needs another model defines its own ``model``."""
    from tests.animation.helpers import tiny_model

    return tiny_model(golden)


@pytest.fixture(scope="module")
def checkpoint(golden, tmp_path_factory) -> Path:
    """The weights of the ``model`` fixture in a checkpoint file, with their config."""
    from tests.animation.helpers import tiny_checkpoint

    return tiny_checkpoint(golden, tmp_path_factory.mktemp("checkpoint"))
