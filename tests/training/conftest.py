"""Fixtures of the training tests: a tiny config, a random-weight VGG-19, in-memory and on-disk data."""

from __future__ import annotations

import urllib.error

import pytest
import torch

from fomm.training.vgg import Vgg19

from .helpers import write_dataset


@pytest.fixture(scope="session")
def vgg() -> Vgg19:
    torch.manual_seed(0)
    return Vgg19()


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory):
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
