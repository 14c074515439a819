"""``fomm info``: a checkpoint, the bundled model, a preset."""

from __future__ import annotations

import torch
import yaml
from safetensors import safe_open

from fomm.api import default_checkpoint_path
from fomm.cli import main


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_info_of_a_checkpoint(golden, capsys):
    path = golden / "tiny-cpk.pth.tar"
    raw = torch.load(path, weights_only=True)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    for name in ("generator", "kp_detector", "discriminator"):
        assert f"{name}: {len(raw[name])} tensors," in out
    assert f"epoch: {raw['epoch']}" in out
    assert "config: inferred from tensor shapes" in out
    assert "256x256 assumed" in out  # a bare original checkpoint does not say its frame size
    num_kp = raw["kp_detector"]["kp.weight"].shape[0]
    assert f"keypoints: {num_kp}," in out


def test_info_default_and_presets(capsys):
    stored = yaml.safe_load(safe_open(str(default_checkpoint_path()), "pt").metadata()["config"])
    size, num_kp = stored["dataset_params"]["frame_shape"][0], stored["model_params"]["common_params"]["num_kp"]
    assert main(["info", "default", "--yaml"]) == 0
    out = capsys.readouterr().out
    assert _lines(out)[0].startswith("model: the bundled default model (")
    assert f"file: {default_checkpoint_path()}" in out
    assert f"{size}x{size}, {num_kp} keypoints)" in _lines(out)[0]
    assert "trained on synthetic articulated figures" in _lines(out)[0]
    assert "config: stored in the checkpoint" in out
    assert yaml.safe_load(out[out.index("dataset_params:"):])["model_params"] == stored["model_params"]
    assert main(["info", "taichi-256"]) == 0
    out = capsys.readouterr().out
    assert _lines(out)[0] == "model: the taichi-256 architecture with untrained weights (256x256, 10 keypoints)"
    assert "weights: none" in out
    assert main(["info", "nope"]) == 2
    err = capsys.readouterr().err
    assert len(_lines(err)) == 1 and err.startswith("fomm info: error: checkpoint not found: nope")
