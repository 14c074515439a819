"""Shared fixtures. The golden fixtures computed by the authors' code live in ``../shared/golden``
(override with FOMM_GOLDEN_DIR). Tests that need them fail, not skip, when they are missing."""

from __future__ import annotations

import os
import urllib.error
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


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory):
    """train/ and test/ folders of moving-square videos (PNG frames), for training."""
    from tests.training.helpers import write_dataset

    return write_dataset(tmp_path_factory.mktemp("squares"))


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache, and no network."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)
