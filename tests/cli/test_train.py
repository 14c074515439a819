"""``fomm train``: the parser, config overrides, the output-folder rules, and short end-to-end runs (the
library it is a layer over is tested in tests/training)."""

from __future__ import annotations

import pytest
import yaml

from fomm.checkpoints import read_checkpoint
from fomm.cli.main import build_parser, main
from fomm.config import load_config
from fomm.training.checkpointing import latest_checkpoint
from fomm.training.state import STATE_KEY
from tests.training.helpers import tiny_config_dict


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict()))
    return path


def _args(*argv: str):
    return build_parser().parse_args(["train", *argv])


def test_parser_defaults_and_exclusive_options():
    args = _args("--config", "vox-256", "--out", "o")
    assert (args.workers, args.seed, args.amp, args.vgg, args.vgg_random, args.overrides) == (2, 0, None, None,
                                                                                              False, [])
    assert (args.channels_last, args.fused_adam) == (False, None)  # None: a resumed run's own setting
    for bad in (["--vgg", "w.pth", "--vgg-random"], ["--checkpoint", "a", "--finetune", "b"], ["--max-steps", "0"],
                ["--max-minutes", "0"], ["--amp", "fp8"], ["--workers", "-1"], ["--threads", "0"], []):
        with pytest.raises(SystemExit):
            _args(*bad) if bad == [] else _args("--out", "o", *bad)


def test_every_override_reaches_the_runs_config(config_file, dataset_dir, tmp_path):
    out = tmp_path / "o"
    assert main(["train", "--config", str(config_file), "--out", str(out), "--data", str(dataset_dir), "--epochs", "7",
                 "--batch-size", "4", "--set", "train_params.num_repeats=3", "--set",
                 "train_params.loss_weights.reconstruction_l1=2.5", "--set", "train_params.lr_generator=6e-4",
                 "--workers", "0", "--device", "cpu", "--max-steps", "1", "--vgg-random"]) == 0
    config = load_config(out / "config.yaml")  # what the run trained with
    assert config.dataset_params.root_dir == str(dataset_dir)
    tp = config.train_params
    assert (tp.num_epochs, tp.batch_size, tp.num_repeats, tp.loss_weights.reconstruction_l1) == (7, 4, 3, 2.5)
    assert tp.lr_generator == pytest.approx(6e-4)  # PyYAML reads '6e-4' as a string


@pytest.mark.parametrize("override, message", [
    ("train_params.num_epoch=3", "unknown config key 'train_params.num_epoch' (did you mean 'num_epochs'?)"),
    ("trian_params.num_epochs=3", "unknown config key 'trian_params' (did you mean 'train_params'?)"),
    ("train_params.num_epochs=three", "'train_params.num_epochs' must be an integer"),
])
def test_bad_overrides_fail_with_one_clear_line(config_file, tmp_path, capsys, override, message):
    code = main(["train", "--config", str(config_file), "--out", str(tmp_path / "out"), "--set", override])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("fomm train: error:")
    assert not (tmp_path / "out").exists()


def test_config_is_required_without_a_checkpoint(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "out")]) == 2
    assert "give --config" in capsys.readouterr().err


def test_dataset_and_vgg_problems_are_reported_before_training(config_file, tmp_path, capsys, hub_dir):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    assert main(["train", "--config", str(config_file), "--data", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "o1"), "--vgg-random"]) == 2
    assert "0 videos found" in capsys.readouterr().err


def test_missing_vgg_weights_are_reported(config_file, dataset_dir, tmp_path, capsys, hub_dir):
    assert main(["train", "--config", str(config_file), "--data", str(dataset_dir), "--out", str(tmp_path / "o"),
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "vgg19-dcbb9e9d.pth" in err and "--vgg-random" in err


def test_train_refuse_nonempty_out_overwrite_and_resume(config_file, dataset_dir, tmp_path, capsys, caplog):
    out = tmp_path / "run"
    base = ["train", "--config", str(config_file), "--data", str(dataset_dir), "--out", str(out), "--vgg-random",
            "--workers", "0", "--device", "cpu", "--max-steps", "3", "--threads", "1"]
    assert main(base) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("3 steps in ") and "epoch 0 batch 3/8, stopped by max-steps" in captured.out
    assert captured.out.strip().endswith(str(out / "00000000-batch00000003-checkpoint.pth.tar"))

    assert main(base) == 2
    assert "is not empty" in capsys.readouterr().err

    (out / "notes.txt").write_text("keep me")
    assert main([*base, "--overwrite", "--max-steps", "2"]) == 0
    capsys.readouterr()
    assert (out / "notes.txt").exists() and not (out / "log.txt").exists()  # no epoch finished yet
    assert sorted(p.name for p in out.glob("*.pth.tar")) == ["00000000-batch00000002-checkpoint.pth.tar"]

    # Resume from the run folder, with the config stored in the checkpoint: at batch 3 of epoch 0; the fused
    # Adam reads the default one's state.
    assert main(["train", "--checkpoint", str(out), "--data", str(dataset_dir), "--out", str(out), "--vgg-random",
                 "--workers", "0", "--device", "cpu", "--epochs", "2", "--max-steps", "7", "--fused-adam"]) == 0
    captured = capsys.readouterr()
    assert "epoch 1 batch 1/8" in captured.out
    assert "00000000) perceptual - " in captured.err  # the finished epoch's log line, beside the progress bar
    assert [line[:9] for line in (out / "log.txt").read_text().splitlines()] == ["00000000)"]
    assert "trained without --fused-adam and this run uses it" in caplog.text
    caplog.clear()

    # Resumed without the flag, the run keeps its fused Adam (an exact resume needs the same arithmetic).
    assert main(["train", "--checkpoint", str(out), "--data", str(dataset_dir), "--out", str(out), "--vgg-random",
                 "--workers", "0", "--device", "cpu", "--epochs", "2", "--max-steps", "1"]) == 0
    assert "--fused-adam" not in caplog.text
    state = read_checkpoint(latest_checkpoint(out)).extra[STATE_KEY]
    assert (state["global_step"], state["fused_adam"]) == (2 + 7 + 1, True)


@pytest.mark.parametrize("override, key", [
    ("model_params.common_params.num_kp=-1", "model_params.common_params.num_kp"),
    ("train_params.lr_generator=.nan", "train_params.lr_generator"),
    ("train_params.batch_size=0", "train_params.batch_size"),
    ("train_params.scales=[]", "train_params.scales"),
])
def test_invalid_set_values_are_refused_in_one_line(config_file, tmp_path, capsys, override, key):
    code = main(["train", "--config", str(config_file), "--out", str(tmp_path / "out"), "--set", override])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("fomm train: error:") and f"'{key}' must be" in err
    assert err.count("\n") == 1 and f"--set {override}" in err
    assert not (tmp_path / "out").exists()
