"""Fault injection for TPSMM training (as ``test_kill.py`` for FOMM, fewer kills): ``fomm train`` of a TPSMM
config killed with SIGKILL while a checkpoint is written, before and after its rename, and at random
moments. After each kill every checkpoint present loads completely with the authors' keys, no finished
checkpoint is lost, and the next run resumes from the newest one (a run that ends by ``--max-steps N``
is exactly N steps further); a last run finishes the epoch it is in, leaving one log line per epoch."""

from __future__ import annotations

import pytest
import yaml

from .family_helpers import tpsmm_tiny_dict
from .family_kill import kill_resume_and_finish

TPSMM_KEYS = {"inpainting_network", "kp_detector", "dense_motion_network", "optimizer", "epoch"}


def _config_file(path, data_dir) -> None:
    """The tiny TPSMM config without the background predictor and the perceptual loss (no second ResNet-18,
    no VGG: small checkpoints, quick steps); 16 epochs, more than the kills get through."""
    data = tpsmm_tiny_dict(64, num_epochs=16, num_repeats=2, epoch_milestones=[8],
                           loss_weights={"perceptual": [0] * 5, "equivariance_value": 10, "warp_loss": 10, "bg": 0})
    data["model_params"]["common_params"]["bg"] = False
    data["dataset_params"]["root_dir"] = str(data_dir)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.slow
def test_sigkill_of_tpsmm_training_never_corrupts_a_run(tmp_path, monkeypatch):
    kill_resume_and_finish(tmp_path, monkeypatch, "tpsmm", _config_file, TPSMM_KEYS, size=64)
