"""Library errors whose fix is an option are worded for their caller (fomm.words): the Python API's
``device='cpu'`` / ``precision='bf16'``, the command line's ``--device cpu`` / ``--precision bf16``."""

from __future__ import annotations

import pytest
import torch

import fomm
from fomm.api import DeviceError
from fomm.checkpoints import Checkpoint
from fomm.cli.common import CLIError, device_from_arg
from fomm.training import TrainingError
from fomm.training.run import resumed_precision
from fomm.training.state import STATE_KEY
from fomm.training.trainer import training_precision
from fomm.words import API_WORDS, APP_WORDS, CLI_WORDS


@pytest.mark.parametrize("device, backend", [("cuda", torch.cuda), ("mps", torch.backends.mps)])
def test_a_missing_device_names_the_fix_in_the_callers_words(monkeypatch, device, backend):
    monkeypatch.setattr(backend, "is_available", lambda: False)
    with pytest.raises(DeviceError) as raised:
        fomm.select_device(device)
    assert isinstance(raised.value, RuntimeError)  # what callers caught before
    assert str(raised.value).endswith("is not available; use device='cpu'")
    assert raised.value.worded(CLI_WORDS).endswith("; use --device cpu")
    with pytest.raises(CLIError, match=rf"^--device {device}: .* is not available; use --device cpu$"):
        device_from_arg(device)


def test_training_precision_messages_name_the_option_of_the_caller():
    with pytest.raises(TrainingError) as raised:
        training_precision("fp16", torch.device("cpu"))
    assert str(raised.value) == ("precision='fp16' needs a CUDA GPU (the device is cpu); use precision='bf16' "
                                 "on CPU, or fp32")
    assert raised.value.worded(CLI_WORDS).startswith("--precision fp16 needs a CUDA GPU")
    assert "use --precision bf16 on CPU" in raised.value.worded(CLI_WORDS)
    with pytest.raises(TrainingError, match=r"precision='bf16' on CPU"):
        training_precision(None, torch.device("cpu"), amp="fp16")  # the older amp= is worded the same


def test_a_plain_message_reads_the_same_in_every_vocabulary():
    error = TrainingError("the data folder has no videos; give --data a folder of videos")
    assert {error.worded(w) for w in (API_WORDS, CLI_WORDS, APP_WORDS)} == {str(error)}


def test_resuming_fp16_on_a_cpu_names_both_precisions():
    checkpoint = Checkpoint(state_dicts={}, extra={STATE_KEY: {"amp": "fp16"}})  # trained on a GPU
    with pytest.raises(TrainingError, match=r"pass precision='bf16' or precision='fp32' to resume here"):
        resumed_precision(checkpoint, torch.device("cpu"))
