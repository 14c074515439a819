"""Fixtures of the CLI tests: a tiny random-weight model and its checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.animation.helpers import tiny_checkpoint, tiny_model
from tests.training.conftest import dataset_dir, hub_dir  # noqa: F401  (the training data fixtures, for fomm train)


@pytest.fixture(scope="module")
def model(golden):
    return tiny_model(golden)


@pytest.fixture(scope="module")
def checkpoint(golden, tmp_path_factory) -> Path:
    return tiny_checkpoint(golden, tmp_path_factory.mktemp("checkpoint"))
