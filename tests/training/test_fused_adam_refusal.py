"""Every family's trainer refuses Adam's fused kernel on a device without one in one line naming the
option and its fix in the caller's words (``--no-fused-adam`` on the command line, ``fused_adam=False``
from Python), not torch's RuntimeError."""

from __future__ import annotations

import pytest
import torch

from fomm.training.families.mraa import MRAATrainer
from fomm.training.families.tpsmm import TPSMMTrainer
from fomm.training.trainer import Trainer, TrainingError
from fomm.words import CLI_WORDS

from .avd_helpers import SIZE, family_config
from .helpers import RandomPairs

ADAM = torch.optim.Adam


def _adam_without_a_fused_kernel(params, *args, fused=None, **kwargs):
    if fused:
        raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
    return ADAM(params, *args, **kwargs)


@pytest.mark.parametrize("family, cls", [("fomm", Trainer), ("tpsmm", TPSMMTrainer), ("mraa", MRAATrainer)])
def test_fused_adam_without_its_kernel_is_one_line_with_the_fix(family, cls, monkeypatch, tmp_path, vgg):
    monkeypatch.setattr(torch.optim, "Adam", _adam_without_a_fused_kernel)
    config = family_config(family, tmp_path)
    with pytest.raises(TrainingError) as raised:
        cls(config, RandomPairs(4, SIZE), tmp_path / "run", vgg=vgg, device="cpu", tensorboard=False,
            visualize=False, fused_adam=True)
    assert str(raised.value) == ("fused_adam is not available on cpu: `fused=True` requires all the params to be "
                                 "floating point Tensors of supported devices; pass fused_adam=False")
    assert raised.value.worded(CLI_WORDS).startswith("--fused-adam is not available on cpu: ")
    assert raised.value.worded(CLI_WORDS).endswith("; pass --no-fused-adam")
    cls(config, RandomPairs(4, SIZE), tmp_path / "plain", vgg=vgg, device="cpu", tensorboard=False,
        visualize=False)  # without the kernel asked for, the same trainer builds
