"""Fixtures of the training tests: a random-weight VGG-19 (the on-disk data and the offline hub cache,
which fomm train's tests use too, are in tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch

from fomm.training.vgg import Vgg19


@pytest.fixture(scope="session")
def vgg() -> Vgg19:
    torch.manual_seed(0)
    return Vgg19()
