"""One training run from a config and paths: what ``fomm train`` does, as a library call.

:func:`prepare_training` checks the data, reads the checkpoint to resume from (a file or a run
folder; its precision and fused-Adam settings carry over unless given), prepares the run folder
(:mod:`fomm.training.run_folder`), loads the VGG-19 of the perceptual loss and returns a
:class:`~fomm.training.trainer.Trainer` positioned to go on; :func:`train` also runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from torch.utils.data import Dataset

from ..api import resolve_model
from ..checkpoints import Checkpoint, read_checkpoint
from ..config import Config
from . import distributed
from .avd import AVD_STATE_KEY
from .checkpointing import read_run_checkpoint
from .errors import TrainingError
from .run_folder import check_run_folder, prepare_run_folder
from .state import STATE_KEY
from .trainer import EpochCallback, StepCallback, Trainer, TrainResult
from .vgg import Vgg19, load_vgg19

logger = logging.getLogger(__name__)


def _weights_path(name_or_path: str | Path, option: str) -> Path:
    """The checkpoint file or run folder a model name (``default``) or path gives; a preset has none."""
    source = resolve_model(str(name_or_path))
    if source.path is None:
        raise TrainingError(f"{option} {name_or_path}: a preset has no weights to start from; give a checkpoint "
                            "file, a run folder or 'default' (the bundled model), and the preset with --config")
    return source.path


def resume_checkpoint(checkpoint: str | Path | Checkpoint) -> Checkpoint:
    """The checkpoint a run resumes from: one already read, a file, a run folder (its furthest
    checkpoint) or a model name such as ``default``."""
    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    return read_run_checkpoint(_weights_path(checkpoint, "--checkpoint"))


def _resumed(checkpoint: Checkpoint | None, key: str):
    state = checkpoint.extra.get(STATE_KEY) if checkpoint is not None else None
    return state.get(key) if isinstance(state, dict) else None


def resumed_precision(checkpoint: Checkpoint | None, device) -> str:
    """The precision a resumed run goes on in (an exact resume needs the same numerics): the
    checkpoint's (stored under its older name ``amp``), fp32 for a new run."""
    precision = _resumed(checkpoint, "amp") or "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise TrainingError(lambda w: f"the checkpoint was trained in fp16, which needs a CUDA GPU (the device is "
                                      f"{device.type}): pass {w.setting('precision', 'bf16')} or "
                                      f"{w.setting('precision', 'fp32')} to resume here")
    return precision


def _holds(out_dir: str | Path, checkpoint: str | Path | Checkpoint) -> bool:
    """Whether ``checkpoint`` is ``out_dir`` or a file in it (a run resumed in its own folder); a checkpoint
    already read, of unknown origin, is judged by its AVD state."""
    if isinstance(checkpoint, Checkpoint):
        return isinstance(checkpoint.extra.get(AVD_STATE_KEY), dict)
    out, path = Path(out_dir).resolve(), Path(checkpoint).resolve()
    return path == out or out in path.parents


def prepare_training(config: Config, out_dir: str | Path, *, dataset: Dataset | None = None,
                     checkpoint: str | Path | Checkpoint | None = None, finetune: str | Path | None = None,
                     overwrite: bool = False, vgg: Vgg19 | str | Path | None = None, vgg_random: bool = False,
                     precision: str | None = None, fused_adam: bool | None = None,
                     inputs: Iterable[str | Path | None] = (), stage: str = "reconstruction",
                     checkpoint_path: str | Path | None = None, **options) -> Trainer:
    """A :class:`Trainer` for ``config`` into ``out_dir``, resumed from ``checkpoint`` or fine-tuned from
    the matching weights of ``finetune`` (a file, a run folder or a model name), ready to :meth:`fit`.

    ``dataset``: by default ``config``'s training split, validated first (nothing is written when the
    data is wrong). ``vgg``: a :class:`Vgg19`, or the path of its ImageNet weights (default: the torch
    hub cache, then a download); ``vgg_random`` allows random weights instead (never downloading).
    ``precision`` / ``fused_adam``: None keeps the resumed run's (fp32 / off for a new run).
    ``inputs``: paths the run folder must not hold. ``stage``: ``reconstruction`` (the motion and
    generation networks) or ``avd`` (the AVD network on the frozen networks of ``checkpoint``; see
    :mod:`fomm.training.avd`), which goes on in ``out_dir`` only when that holds ``checkpoint``
    (``checkpoint_path``: where a ``checkpoint`` given already read came from). The trainer is the
    config's family's (:func:`fomm.training.families.trainer_class`). ``options`` are :class:`Trainer`'s keywords.
    """
    if checkpoint is not None and finetune is not None:
        raise ValueError("give either checkpoint (resume) or finetune, not both")
    from ..api import select_device
    from .families import trainer_class, training_dataset

    cls = trainer_class(config, stage)
    if stage == "avd" and (checkpoint is None or finetune is not None):
        raise TrainingError("the AVD stage trains on the frozen networks of a reconstruction run: give its "
                            "checkpoint with --checkpoint RUN (a run folder or checkpoint file), not --finetune")

    folder_inputs = (finetune, *inputs, None if isinstance(vgg, Vgg19) else vgg)
    # The run folder is checked first (nothing read, nothing written): a wrong --out fails before the data.
    # The AVD stage goes on in --out only when that holds its checkpoint; else it is a new run there.
    resuming = checkpoint is not None and (stage != "avd" or _holds(out_dir, checkpoint_path or checkpoint))
    check_run_folder(out_dir, resuming=resuming, overwrite=overwrite, inputs=folder_inputs)
    resumed = resume_checkpoint(checkpoint) if checkpoint is not None else None
    avd_run = resumed is not None and isinstance(resumed.extra.get(AVD_STATE_KEY), dict)
    if stage == "avd" and resuming and not avd_run:
        raise TrainingError(f"--out {out_dir} holds the reconstruction run of --checkpoint: write the AVD stage "
                            f"to a new folder (--out {Path(out_dir).name}-avd)")
    if stage != "avd" and avd_run and _holds(out_dir, checkpoint_path or checkpoint):
        raise TrainingError(f"--out {out_dir} is an AVD stage run: resume it with --stage avd, or train the "
                            "reconstruction on from its checkpoint into a new folder (--out)")
    # Both read before anything is written: a damaged or NaN checkpoint leaves no run folder behind.
    start_from = read_checkpoint(_weights_path(finetune, "--finetune")) if finetune is not None else None
    if dataset is None:
        dataset = training_dataset(config, is_train=True)
    try:
        device = select_device(options.get("device"))
    except RuntimeError as exc:
        raise TrainingError(str(exc).splitlines()[0]) from None
    if precision is None and options.get("amp") is None:
        precision = resumed_precision(resumed, device)
    if fused_adam is None:
        fused_adam = bool(_resumed(resumed, "fused_adam"))
    if distributed.init_from_env(device.type).is_main:
        prepare_run_folder(out_dir, resuming=resuming, overwrite=overwrite, inputs=folder_inputs)
    if stage != "avd" and any(config.train_params.loss_weights.perceptual) and not isinstance(vgg, Vgg19):
        vgg = load_vgg19(vgg, allow_random=vgg_random, download=not vgg_random)
    trainer = cls(config, dataset, out_dir, vgg=vgg, precision=precision, fused_adam=fused_adam, **options)
    if resumed is not None:
        trainer.resume(resumed)
    if start_from is not None:
        trainer.finetune(start_from)
    return trainer


def train(config: Config, dataset: Dataset | None, out_dir: str | Path, *,
          on_step: StepCallback | None = None, on_epoch_end: EpochCallback | None = None,
          **options) -> TrainResult:
    """Train ``config`` on ``dataset`` (None: the config's data) into ``out_dir``: :func:`prepare_training`
    with ``options`` (``checkpoint`` resumes a run, ``finetune`` starts from the matching weights of
    another), then :meth:`Trainer.fit` with the callbacks."""
    return prepare_training(config, out_dir, dataset=dataset, **options).fit(on_step=on_step,
                                                                            on_epoch_end=on_epoch_end)


__all__ = ["prepare_training", "resume_checkpoint", "resumed_precision", "train"]
