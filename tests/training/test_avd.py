"""The AVD stage (``fomm train --stage avd``) for FOMM, TPSMM and MRAA: it trains the AVD network on the
frozen networks of a reconstruction checkpoint and writes it beside them under the families' keys; its
loss falls on ``fomm synth`` data, the trained network gives back held-out driving poses better than
an untrained one, it resumes exactly, and a FOMM model without one refuses ``--mode avd`` naming the
fix."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import fomm
from fomm.animation import Animator
from fomm.checkpoints import read_checkpoint
from fomm.cli.main import main
from fomm.data.datasets import FramesDataset
from fomm.data.synthetic import SyntheticConfig, generate_video, load_tracks, shape_in_motion_video
from fomm.evaluation.parts import part_position_error
from fomm.families import get_family
from fomm.training import TrainingError, prepare_training
from fomm.training.avd import AVD_STATE_KEY, RULES, random_scale, with_avd_sections

from .avd_helpers import FAMILIES, SIZE, avd_trainer, family_config, reconstruction_checkpoint, synth_data


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return synth_data(tmp_path_factory.mktemp("synth") / "data")


def _tensors_equal(a, b) -> bool:
    """Nested state (dicts, lists, tensors, numbers) equal to the bit."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_tensors_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_avd_stage_trains_beside_the_frozen_networks_under_the_family_keys(family, synth, tmp_path, vgg,
                                                                           capsys):
    config = family_config(family, synth)
    start = reconstruction_checkpoint(family, config, tmp_path / "run", vgg, trained=True)
    before = torch.load(start, map_location="cpu", weights_only=True)
    result = avd_trainer(config, start, tmp_path / "run-avd").fit()
    assert result.global_step == 2 * 3 and result.stop_reason is None  # 6 videos x 2 repeats / batch 4, 2 epochs
    after = torch.load(result.checkpoint, map_location="cpu", weights_only=True)

    epoch_key = RULES[family].epoch_key  # TPSMM: its authors' train_avd.py overwrites 'epoch'
    assert set(after) == set(before) | {"avd_network", "optimizer_avd", AVD_STATE_KEY, epoch_key}
    assert after[epoch_key] == 1 and after[AVD_STATE_KEY]["global_step"] == 6
    for key, value in before.items():  # the motion networks are frozen; the first stage's state is kept
        if key not in ("config", epoch_key):
            assert _tensors_equal(after[key], value), key
    state = after["optimizer_avd"]
    assert len(state["state"]) == len(list(after["avd_network"])) - sum(k.endswith(("running_mean", "running_var",
                                                                                    "num_batches_tracked"))
                                                                         for k in after["avd_network"])
    assert state["param_groups"][0]["lr"] == pytest.approx(1e-4)  # x0.1 after epoch_milestones [1]

    assert main(["info", str(result.checkpoint)]) == 0
    printed = capsys.readouterr().out
    assert "AVD stage: 2 epochs done (step 6)" in printed and "modes: relative, absolute, avd" in printed
    model = fomm.load_model(result.checkpoint, device="cpu")
    assert model.avd_network is not None
    assert "avd" in get_family(family).make_backend(model, channels_last=False).modes


def _held_out_videos(root) -> list[torch.Tensor]:
    """The videos of ``test/`` (never trained on), (T, 3, H, W) each."""
    test = FramesDataset(root, (SIZE, SIZE, 3), is_train=False)
    return [torch.stack(list(test[i]["video"])) for i in range(len(test))]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_avd_loss_falls_over_a_few_dozen_steps(family, synth, tmp_path):
    config = family_config(family, synth, num_epochs=1, num_repeats=20, epoch_milestones=[])  # 30 steps
    start = reconstruction_checkpoint(family, config, tmp_path / "run")
    losses = []
    avd_trainer(config, start, tmp_path / "run-avd", visualize=False).fit(
        on_step=lambda step, values: losses.append(sum(values.values())))
    assert len(losses) == 30
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.7 * first, (first, last)


def _cases(synth) -> dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]]]:
    """(source frame, driving frames, the answer, part colors): each held-out video from its first frame,
    and figure A's first frame driven by figure B (other body shapes; the answer: A moving as B)."""
    same = [(video[0], video, video, load_tracks(path.parent / f"{path.name}.tracks.json").part_colors)
            for video, path in zip(_held_out_videos(synth), sorted((synth / "test").glob("vid*[0-9]")), strict=True)]
    config, other = SyntheticConfig(size=SIZE, num_frames=8, limb_swing=2), []
    for i in range(2):
        as_tensor = lambda frames: torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255  # noqa: E731
        answer = shape_in_motion_video([99, 2 * i], [99, 2 * i + 1], config)
        other.append((as_tensor(generate_video([99, 2 * i], config).frames)[0],
                      as_tensor(generate_video([99, 2 * i + 1], config).frames), as_tensor(answer.frames),
                      answer.tracks.part_colors))
    return {"same video": same, "other figure": other}


@pytest.mark.slow
def test_animating_in_avd_mode_moves_the_parts_better_once_trained(synth, tmp_path):
    """The bundled FOMM model, whose keypoints follow the figures' parts: its AVD stage on ``fomm synth``
    data (30 steps), then held-out sources animated in avd mode, trained against untrained: L1 against
    the answer and AKD of the parts located by color (no learned keypoints judge)."""
    config = with_avd_sections(copy.deepcopy(fomm.load_model("default").config))
    config.dataset_params.root_dir = str(synth)
    config.train_avd_params.num_epochs, config.train_avd_params.num_repeats = 1, 20
    config.train_avd_params.batch_size, config.train_avd_params.epoch_milestones = 4, []
    trainer = avd_trainer(config, "default", tmp_path / "avd", visualize=False)
    untrained = copy.deepcopy(trainer.model).eval()
    trained = fomm.load_model(trainer.fit().checkpoint, device="cpu")

    def scores(model, cases) -> tuple[float, float, float]:
        """Mean L1, AKD (px; nan when every part is lost) and MKR against the answers."""
        rows = []
        for source, driving, answer, colors in cases:
            out = torch.stack([f.image for f in Animator(model, source, mode="avd").stream(list(driving),
                                                                                           output="tensor")])
            error = part_position_error(out.permute(0, 2, 3, 1).numpy(), answer.permute(0, 2, 3, 1).numpy(), colors)
            rows.append((float((out - answer).abs().mean()), error.akd, error.mkr))
        rows = np.array(rows)
        return float(rows[:, 0].mean()), float(np.nanmean(rows[:, 1])) if np.isfinite(rows[:, 1]).any() else np.nan, \
            float(rows[:, 2].mean())

    for kind, cases in _cases(synth).items():
        (l1, akd, mkr), untrained_scores = scores(trained, cases), scores(untrained, cases)
        l1_0, akd_0, mkr_0 = untrained_scores
        assert np.isfinite(akd) and l1 < l1_0 and mkr < mkr_0, (kind, (l1, akd, mkr), untrained_scores)
        assert not akd >= 0.8 * akd_0, (kind, akd, akd_0)  # an untrained network may lose every part (nan)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["fomm", "tpsmm"])  # TPSMM: the stage's epoch under the first stage's key
def test_avd_stage_resumes_exactly(family, synth, tmp_path):
    config = family_config(family, synth)
    start = reconstruction_checkpoint(family, config, tmp_path / "run")
    straight = avd_trainer(config, start, tmp_path / "straight")
    straight.fit()
    first = avd_trainer(config, start, tmp_path / "stopped", max_steps=4).fit()  # stops in epoch 1
    assert (first.epoch, first.batch) == (1, 1)
    assert torch.load(first.checkpoint, map_location="cpu", weights_only=True)[RULES[family].epoch_key] == 0
    second = avd_trainer(config, tmp_path / "stopped", tmp_path / "stopped")
    assert (second.epoch, second.batch_in_epoch, second.global_step) == (1, 1, 4)
    second.fit()
    with pytest.raises(TrainingError, match="is an AVD stage run: resume it with --stage avd"):
        prepare_training(config, tmp_path / "stopped", checkpoint=tmp_path / "stopped", device="cpu")
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(second.model.state_dict()[key], value, rtol=0, atol=0, msg=key)
    assert _tensors_equal(second.optimizers["avd"].state_dict(), straight.optimizers["avd"].state_dict())
    assert (tmp_path / "stopped" / "log.txt").read_text() == (tmp_path / "straight" / "log.txt").read_text()


def test_random_scale_is_the_authors_draw():
    torch.manual_seed(3)
    theta = random_scale(5, 0.25)
    torch.manual_seed(3)
    expected = torch.rand(5, 2) * 0.5 + 0.75  # TPSMM's train_avd.random_scale
    assert theta.shape == (5, 1, 2, 2)
    torch.testing.assert_close(torch.diagonal(theta[:, 0], dim1=-2, dim2=-1), expected, rtol=0, atol=0)
    assert (theta[:, 0, 0, 1] == 0).all() and (theta[:, 0, 1, 0] == 0).all()


def test_avd_stage_needs_a_checkpoint_and_its_own_folder(synth, tmp_path, capsys):
    config = family_config("fomm", synth)
    start = reconstruction_checkpoint("fomm", config, tmp_path / "run")
    common = ["train", "--stage", "avd", "--data", str(synth), "--device", "cpu", "--workers", "0"]
    assert main([*common, "--config", "synthetic-64", "--out", str(tmp_path / "a")]) == 2
    assert "give its checkpoint with --checkpoint RUN" in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "a")]) == 2  # nor --config: the stage's need, not the config
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give its checkpoint with --checkpoint RUN" in err and not (tmp_path / "a").exists()
    assert main([*common, "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds the reconstruction run" in err and "--out run-avd" in err
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.suffix == ".tar") == [start.name]
    assert read_checkpoint(start).state_dicts.keys() == {"generator", "kp_detector", "discriminator"}


def test_animate_avd_without_an_avd_network_names_the_fix(tmp_path, capsys):
    from PIL import Image

    driving = tmp_path / "driving"
    driving.mkdir()
    for i in range(2):
        Image.fromarray(np.full((64, 64, 3), 100 + 50 * i, np.uint8)).save(driving / f"{i:04d}.png")
    source = driving / "0000.png"
    code = main(["animate", str(source), str(driving), "-o", str(tmp_path / "out.mp4"), "--mode", "avd"])
    err = capsys.readouterr().err
    assert main(["info", "default"]) == 0  # the file's modes, not the family's
    assert "modes: relative, absolute (default relative)" in capsys.readouterr().out
    errors = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and not (tmp_path / "out.mp4").exists() and len(errors) == 1 and "Traceback" not in err
    assert "--mode avd: this fomm model has no AVD network" in err and "fomm train --stage avd --checkpoint" in err


@pytest.mark.slow
def test_avd_stage_trains_under_torchrun(synth, tmp_path):
    """Two gloo processes split the global batch (2 samples each) and only rank 0 writes the run."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "avd"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "fomm",
               "train", "--stage", "avd", "--checkpoint", "default", "--data", str(synth), "--out", str(out),
               "--workers", "0", "--device", "cpu", "--epochs", "1", "--set", "train_avd_params.num_repeats=2",
               "--set", "train_avd_params.batch_size=4"]
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    raw = torch.load(out / "00000000-checkpoint.pth.tar", map_location="cpu", weights_only=True)
    assert raw[AVD_STATE_KEY]["global_step"] == 3 and raw[AVD_STATE_KEY]["data"]["world_size"] == 2
    assert {"avd_network", "optimizer_avd", "epoch_avd"} <= set(raw) and raw["epoch_avd"] == 0
    assert sorted(p.name for p in out.glob("*.pth.tar")) == ["00000000-checkpoint.pth.tar"]


@pytest.mark.slow
@pytest.mark.parametrize(("family", "name"), [("tpsmm", "tpsmm-tiny.pth.tar"), ("mraa", "mraa-tiny.pth.tar")])
def test_the_authors_checkpoints_start_the_stage_from_their_avd_network(family, name, synth, tmp_path, golden):
    """Their files (trained through both stages, no config) start the stage at epoch 0 from their
    avd_network, as their train_avd.py; what they held besides is written back under their keys."""
    theirs = torch.load(golden / name, map_location="cpu", weights_only=True)
    trainer = avd_trainer(family_config(family, synth), golden / name, tmp_path / "avd", visualize=False,
                          max_steps=1)
    assert (trainer.epoch, trainer.global_step) == (0, 0)
    for key, value in trainer.model.avd_network.state_dict().items():
        assert torch.equal(value, theirs["avd_network"][key]), key
    written = torch.load(trainer.fit().checkpoint, map_location="cpu", weights_only=True)
    kept = {"tpsmm": ["optimizer"], "mraa": ["optimizer_reconstruction", "epoch_reconstruction"]}[family]
    assert all(_tensors_equal(written[key], theirs[key]) for key in kept)
    assert set(theirs) - {"epoch_avd"} <= set(written)
