"""The training loop (paper Sec. 3.5; the authors' ``train.py`` and ``logger.py``).

Per step: the keypoint detector and generator take one Adam step on the generator-side losses, then
(only when ``generator_gan`` is non-zero, as the original) the discriminator takes one on the LSGAN
discriminator loss. Learning rates drop x0.1 at ``epoch_milestones``; an epoch is the dataset
repeated ``num_repeats`` times. Files written in ``out_dir`` (rank 0 only), as the original:
``<epoch:08d>-checkpoint.pth.tar`` every ``checkpoint_freq`` epochs and at the end, ``log.txt`` with
one line of mean losses per epoch, ``train-vis/<epoch:08d>-rec.png``; plus ``config.yaml`` and
TensorBoard event files.

Stopping (``max_steps``, ``max_minutes``, Ctrl-C) in the middle of epoch E after B batches writes
``<E:08d>-batch<B:08d>-checkpoint.pth.tar`` instead: its ``epoch`` key is E - 1 (the last completed
epoch, as the original means it), the position is in its :class:`~fomm.training.state.TrainingState`,
the learning rates are not stepped and no log line is written for the unfinished epoch. Resuming
goes on at batch B + 1 of epoch E with the data, the randomness, the schedules and the loss scale an
uninterrupted run would have had; a later checkpoint of the run supersedes (removes) it.

The library never prints: progress goes to the ``on_step`` / ``on_epoch_end`` callbacks.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..api import select_device
from ..checkpoints import (
    Checkpoint,
    CheckpointError,
    load_state_dicts,
    read_checkpoint,
    save_checkpoint,
)
from ..config import Config
from ..data.datasets import DatasetRepeater
from ..io.image import write_image
from ..model import FOMM
from ..precision import Precision, cpu_features
from . import distributed
from .checkpointing import checkpoint_name, checkpoint_position, latest_checkpoint, load_matching_weights
from .diagnostics import KeypointMonitor
from .errors import NonFiniteLossError, TrainingError
from .interrupt import InterruptFlag
from .logs import LOSS_ORDER, append_log_line, format_log_line
from .losses import DiscriminatorLoss, GeneratorLoss, GeneratorStep, check_train_params
from .run_folder import tidy_run_folder
from .sampling import EpochSampler, SeededItems
from .state import STATE_KEY, TrainingState, amp_name, capture_rng, derived_seed, restore_rng, seed_everything
from .vgg import Vgg19, load_vgg19
from .visualize import training_grid

logger = logging.getLogger(__name__)

AMP_MODES = ("bf16", "fp16")  # the older ``amp`` keyword's values (None: fp32)
NETWORK_NAMES = ("generator", "kp_detector", "discriminator")


def training_precision(precision: str | None, device: torch.device, amp: str | None = None) -> Precision:
    """The precision the training steps run in: ``precision`` (fp32, bf16, fp16 or auto, through
    :mod:`fomm.precision`), or the older ``amp`` ("bf16", "fp16", None = fp32). Unlike inference, an
    explicit precision the device only emulates trains anyway, with a warning (it is slower, not wrong);
    fp16 needs CUDA (its loss scaling)."""
    if amp is not None:
        if amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)} or None, got {amp!r}")
        if precision not in (None, amp):
            raise ValueError(f"amp={amp!r} and precision={precision!r} disagree; give precision only")
        precision = amp
    precision = precision or "fp32"
    if precision not in ("fp32", "auto") and device.type not in ("cuda", "cpu"):
        raise TrainingError(lambda w: f"{w.setting('precision', precision)} trains on cuda and cpu, not on "
                                      f"{device.type}; use {w.setting('precision', 'fp32')}")
    chosen = Precision.resolve(precision, device, allow_slow=precision != "auto")
    if chosen.name == "fp16" and device.type != "cuda":
        raise TrainingError(lambda w: f"{w.setting('precision', 'fp16')} needs a CUDA GPU (the device is "
                                      f"{device.type}); use {w.setting('precision', 'bf16')} on CPU, or fp32")
    if not chosen.native:
        where = (f"a CPU without AVX512-BF16 or AMX ({cpu_features().describe()})" if device.type == "cpu"
                 else str(device))
        logger.warning("--precision %s on %s: %s is emulated and slower than fp32 here; train in fp32 on this "
                       "machine", chosen.name, where, chosen.name)
    return chosen


def describe_precision(name: str) -> str:
    """How a run's precision is named in messages, with the older option that means the same."""
    return "fp32 (no --amp)" if name == "fp32" else f"--precision {name} (--amp {name})"


def _load_scheduler_state(scheduler: torch.optim.lr_scheduler.MultiStepLR, state: Mapping[str, Any]) -> None:
    state = dict(state)
    state["milestones"] = Counter(state["milestones"])
    scheduler.load_state_dict(state)


def _set_requires_grad(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        for p in module.parameters():
            p.requires_grad_(flag)


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` did."""

    steps: int  # optimization steps in this run
    global_step: int  # steps since the start of training (across resumes)
    epoch: int  # the last epoch trained (0-based; finished, or unfinished when ``batch`` > 0), -1 when none
    seconds: float
    checkpoint: Path | None  # the last checkpoint written
    losses: dict[str, float] = field(default_factory=dict)  # mean losses of the last epoch (so far)
    stop_reason: str | None = None  # None (all epochs), "max_steps", "max_minutes" or "interrupted"
    batch: int = 0  # batches done of ``epoch`` when stopped in its middle; 0 when it was finished


StepCallback = Callable[[int, dict[str, float]], None]
EpochCallback = Callable[[int, dict[str, float], Path | None], None]
_STOP_REASONS = (None, "max_steps", "max_minutes", "interrupted")


class Trainer:
    """Trains a :class:`~fomm.model.FOMM` on a dataset of frame pairs.

    ``dataset`` items are dicts with ``source`` and ``driving`` (3, H, W) float tensors in [0, 1]
    (:class:`fomm.data.datasets.FramesDataset`); it is repeated ``train_params.num_repeats`` times.
    ``vgg``: the perceptual loss network; by default :func:`~fomm.training.vgg.load_vgg19` (ImageNet
    weights). ``precision``: ``fp32`` (default), ``bf16`` (CUDA or CPU), ``fp16`` (CUDA) or ``auto``
    (see :func:`training_precision`; ``amp="bf16"|"fp16"`` is the older spelling). ``max_steps`` /
    ``max_minutes`` end training early (this run) with a checkpoint. ``channels_last``: NHWC weights and
    frames (faster convolutions on CPU). ``fused_adam``: Adam's fused kernel, which updates all of a
    network's parameters in one pass (its arithmetic differs from the default Adam's in the last bit,
    so a run with it is not bit-identical to one without). ``diagnostics``: per-epoch keypoint
    measures (:class:`~fomm.training.diagnostics.KeypointMonitor`). Under ``torchrun`` each process
    takes ``batch_size / world_size`` samples, so the global batch stays ``batch_size``.
    """

    def __init__(self, config: Config, dataset: Dataset, out_dir: str | Path, *,
                 device: str | torch.device | None = None, vgg: Vgg19 | None = None, num_workers: int = 0,
                 seed: int = 0, precision: str | None = None, amp: str | None = None,
                 max_steps: int | None = None,
                 max_minutes: float | None = None, visualize: bool = True, tensorboard: bool = True,
                 batched_vgg: bool = False, diagnostics: bool = True, channels_last: bool = False,
                 fused_adam: bool = False):
        self.config = config
        self.train_params = tp = self.stage_params(config)
        self.out_dir = Path(out_dir)
        try:
            device = select_device(device)
        except RuntimeError as exc:  # unavailable or misspelt device
            raise TrainingError(str(exc).splitlines()[0]) from None
        self.ctx = distributed.init_from_env(device.type)
        if self.ctx.enabled and device.type == "cuda":
            device = torch.device("cuda", self.ctx.local_rank)
        self.device = device
        self.precision = training_precision(precision, device, amp)
        self.channels_last = channels_last
        self.seed = seed
        self.max_steps = max_steps
        self.max_minutes = max_minutes
        self.visualize = visualize

        seed_everything(seed)
        self._build(vgg, batched_vgg)

        self.fused_adam = fused_adam
        self.optimizers = self._make_optimizers(fused_adam)
        self.schedulers = {name: torch.optim.lr_scheduler.MultiStepLR(opt, tp.epoch_milestones, gamma=0.1)
                           for name, opt in self.optimizers.items()}
        self.scalers = {name: torch.amp.GradScaler(device.type, enabled=self.precision.name == "fp16")
                        for name in self.scaler_names}

        self.start_epoch = 0  # where this run starts (after resume)
        self.start_batch = 0
        self.epoch = 0  # the epoch being trained
        self.batch_in_epoch = 0  # its batches done
        self.global_step = 0
        self._fit_start_step = 0
        self._epoch_sums: dict[str, float] = {}  # loss sums of the epoch so far (saved mid-epoch)
        self._epoch_batches = 0
        self._batch_size = tp.batch_size // self.ctx.world_size  # per process
        self.loader, self.sampler = self._make_loader(dataset, num_workers)
        self._steps_per_epoch = len(self.sampler) // self._batch_size
        self._writer = None
        self._tensorboard = tensorboard
        self.skipped_weights: list[str] = []  # what a fine-tune could not load (see finetune)
        self.keypoint_monitor = None  # per-epoch keypoint diagnostics (rank 0)
        if diagnostics and self.ctx.is_main:
            self.keypoint_monitor = KeypointMonitor(config.dataset_params.root_dir)

    @property
    def amp(self) -> str | None:
        """The precision in the older ``amp`` vocabulary: None for fp32."""
        return amp_name(self.precision.name)

    # ------------------------------------------------------------------------------ setup
    # What a family's trainer (fomm.training.families) overrides: the stage's parameters, the model and
    # its loss modules, the optimizers and their checkpoint keys, the step, the picture.
    network_names: tuple[str, ...] = NETWORK_NAMES  # the networks a resumed checkpoint should hold
    scaler_names: tuple[str, ...] = ("generator", "discriminator")  # one fp16 loss scaler per backward
    state_key: str = STATE_KEY  # where the checkpoint keeps this stage's TrainingState
    epoch_key: str = "epoch"  # the checkpoint key of the last completed epoch (MRAA: epoch_reconstruction)
    detector_name: str = "kp_detector"  # the network the keypoint diagnostics measure (MRAA: region_predictor)

    def stage_params(self, config: Config):
        """The ``train_params``-like section this stage trains by (epochs, repeats, batch size, milestones)."""
        return config.train_params

    def _build(self, vgg: Vgg19 | None, batched_vgg: bool) -> None:
        """The model, its loss modules and their (DDP-wrapped) steps: FOMM's keypoint detector, generator
        and discriminator."""
        config, tp, device = self.config, self.train_params, self.device
        check_train_params(tp, config.model_params)
        weights = tp.loss_weights
        if not (any(weights.perceptual) or weights.generator_gan or weights.equivariance_value
                or weights.equivariance_jacobian or weights.reconstruction_l1):
            raise TrainingError("every generator-side loss weight in train_params.loss_weights is 0: nothing to train")
        self.gan = weights.generator_gan != 0
        self.model = FOMM(config, with_discriminator=True)
        if self.ctx.enabled:
            self.model.kp_detector = distributed.sync_batchnorm(self.model.kp_detector, device)
            self.model.generator = distributed.sync_batchnorm(self.model.generator, device)
            if device.type != "cuda":
                logger.info("distributed on %s: plain BatchNorm per process (SyncBatchNorm needs CUDA)", device.type)
        self.model.to(device).train()
        if self.channels_last:  # NHWC convolutions: 1.25x faster training steps on an AVX512 CPU (docs/benchmarks.md)
            self.model.to(memory_format=torch.channels_last)

        if any(weights.perceptual) and vgg is None:
            vgg = load_vgg19()
        self.vgg_weights = vgg.weights if vgg is not None and any(weights.perceptual) else None
        self.generator_loss = GeneratorLoss(
            self.model.kp_detector, self.model.generator, tp, vgg=vgg,
            num_channels=config.model_params.common_params.num_channels,
            align_corners=config.model_params.align_corners, batched_vgg=batched_vgg).to(device)
        if self.channels_last:
            self.generator_loss.to(memory_format=torch.channels_last)
        self.generator_step = distributed.wrap(self.generator_loss, self.ctx, device)
        self.discriminator_step = None
        if self.gan:
            self.discriminator_step = distributed.wrap(
                DiscriminatorLoss(self.model.discriminator, weights.discriminator_gan).to(device), self.ctx, device)

    def optimizer_key(self, name: str) -> str:
        """The checkpoint key of optimizer ``name`` (as :func:`fomm.checkpoints.save_checkpoint` writes it)."""
        return name if name.startswith("optimizer") else f"optimizer_{name}"

    def configured_lr(self, name: str) -> float:
        """The config's learning rate of optimizer ``name``."""
        return getattr(self.train_params, f"lr_{name}")

    def picture(self, source: torch.Tensor, driving: torch.Tensor, step) -> np.ndarray:
        """The epoch's ``train-vis/<epoch>-rec.png``."""
        return training_grid(source, driving, step, self.model.generator)

    def checkpoint_extra(self, state: TrainingState) -> dict[str, Any]:
        """The checkpoint's entries besides the networks, optimizers, config and epoch."""
        return {self.state_key: state.to_checkpoint()}

    def checkpoint_epoch(self, state: TrainingState) -> int:
        """The value of the checkpoint's epoch key: the last completed epoch (the authors' meaning)."""
        return state.completed_epoch

    def _make_loader(self, dataset: Dataset, num_workers: int) -> tuple[DataLoader, EpochSampler]:
        tp = self.train_params
        if self.ctx.enabled and tp.batch_size % self.ctx.world_size:
            raise TrainingError(f"train_params.batch_size {tp.batch_size} is not divisible by the "
                                f"{self.ctx.world_size} processes; the global batch is split evenly among them")
        if tp.num_repeats != 1:
            dataset = DatasetRepeater(dataset, tp.num_repeats)
        # The order of an epoch and each item's randomness are functions of (seed, epoch, position):
        # what makes a run resumable at any batch, with or without workers (fomm.training.sampling).
        sampler = EpochSampler(len(dataset), self.seed, self.ctx.rank, self.ctx.world_size)
        loader = DataLoader(SeededItems(dataset), batch_size=self._batch_size, sampler=sampler, drop_last=True,
                            num_workers=num_workers, pin_memory=self.device.type == "cuda",
                            persistent_workers=False)
        if len(sampler) < self._batch_size:
            raise TrainingError(
                f"an epoch has {len(dataset)} pairs (videos x train_params.num_repeats {tp.num_repeats}) "
                f"for {self.ctx.world_size} process(es), fewer than train_params.batch_size {tp.batch_size}: "
                "raise num_repeats or lower batch_size")
        return loader, sampler

    def _make_optimizers(self, fused: bool) -> dict[str, torch.optim.Adam]:
        tp, model, betas = self.train_params, self.model, (0.5, 0.999)
        groups = {"generator": (model.generator, tp.lr_generator),
                  "kp_detector": (model.kp_detector, tp.lr_kp_detector),
                  "discriminator": (model.discriminator, tp.lr_discriminator)}
        with self._adam_kernel():
            return {name: torch.optim.Adam(net.parameters(), lr=lr, betas=betas, fused=True if fused else None)
                    for name, (net, lr) in groups.items()}

    @contextmanager
    def _adam_kernel(self) -> Iterator[None]:
        """Around the making of a stage's optimizers: a device without Adam's fused kernel (``fused_adam``)
        is a TrainingError naming the option and its fix in the caller's words."""
        try:
            yield
        except RuntimeError as exc:
            device = self.device.type
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]  # exc is unbound once this block ends
            raise TrainingError(lambda w: f"{w.name('fused_adam')} is not available on {device}: {reason}; "
                                          f"{w.fixes['fused_adam_off']}") from None

    @property
    def steps_per_epoch(self) -> int:
        return self._steps_per_epoch

    @property
    def num_epochs(self) -> int:
        return self.train_params.num_epochs

    @property
    def planned_steps(self) -> int:
        """Steps this run will take if nothing stops it early."""
        steps = max(0, (self.num_epochs - self.epoch) * self.steps_per_epoch - self.batch_in_epoch)
        return min(steps, self.max_steps) if self.max_steps is not None else steps

    # ------------------------------------------------------------------------------ state
    def _data_geometry(self) -> dict[str, int]:
        return {"items": self.sampler.length, "batch_size": self._batch_size, "world_size": self.ctx.world_size}

    def training_state(self) -> TrainingState:
        """The run's state now (between two steps), as saved with each checkpoint."""
        return TrainingState(
            epoch=self.epoch, batch=self.batch_in_epoch, global_step=self.global_step, seed=self.seed,
            precision=self.precision.name, vgg=self.vgg_weights,
            fused_adam=self.fused_adam,
            optimizers={name: opt.state_dict() for name, opt in self.optimizers.items()},
            schedulers={name: s.state_dict() for name, s in self.schedulers.items()},
            scalers={name: s.state_dict() for name, s in self.scalers.items()},
            rng=capture_rng(), data=self._data_geometry(),
            epoch_losses=dict(self._epoch_sums), epoch_batches=self._epoch_batches)

    def load_training_state(self, state: TrainingState, source: str = "the checkpoint") -> None:
        """Put the run where ``state`` says (the networks are loaded separately): the next step is
        the one an uninterrupted run would have taken next."""
        for name, optimizer in self.optimizers.items():
            if name in state.optimizers:
                optimizer.load_state_dict(state.optimizers[name])
            else:
                logger.warning("%s has no optimizer_%s: the optimizer starts fresh", source, name)
        for name, scheduler in self.schedulers.items():
            if name in state.schedulers:
                scheduler.load_state_dict(state.schedulers[name])
                self._warn_changed_lr(name, scheduler)
        if state.precision != self.precision.name:
            logger.warning("%s was trained in %s and this run uses %s: the numerics change from here on%s", source,
                           describe_precision(state.precision), describe_precision(self.precision.name),
                           " (the fp16 loss scale starts afresh)" if self.precision.name == "fp16" else "")
        else:
            for name, scaler in self.scalers.items():
                if scaler.is_enabled() and state.scalers.get(name):
                    scaler.load_state_dict(state.scalers[name])
        if state.fused_adam != self.fused_adam:
            logger.warning("%s was trained %s --fused-adam and this run %s: Adam's arithmetic changes in the last "
                           "bit from here on", source, "with" if state.fused_adam else "without",
                           "uses it" if self.fused_adam else "does not")
        if state.vgg is not None and (state.vgg != self.vgg_weights or state.vgg == "random"):
            logger.warning("%s was trained with a VGG-19 of %s weights and this run uses %s: the perceptual loss "
                           "compares other features from here on", source, state.vgg, self.vgg_weights)
        if state.seed != self.seed:
            logger.warning("resuming with the checkpoint's seed %d (not %d): a run is one random stream",
                           state.seed, self.seed)
            self.seed = self.sampler.seed = state.seed
        epoch, batch = state.epoch, state.batch
        if state.data and state.data != self._data_geometry() and batch:
            logger.warning("the data or batch size changed since %s (%s, now %s): the rest of epoch %d follows "
                           "the new order", source, state.data, self._data_geometry(), epoch)
        self.start_epoch, self.start_batch = self.epoch, self.batch_in_epoch = epoch, min(batch, self.steps_per_epoch)
        self.global_step = state.global_step
        self._epoch_sums, self._epoch_batches = dict(state.epoch_losses), state.epoch_batches
        if state.rng:
            restore_rng(state.rng)

    def _warn_changed_lr(self, name: str, scheduler) -> None:
        configured = self.configured_lr(name)
        if not math.isclose(scheduler.base_lrs[0], configured):
            logger.warning("resuming keeps the checkpoint's lr_%s schedule (from %g); the config's %g "
                           "applies with --finetune", name, scheduler.base_lrs[0], configured)

    def resume(self, checkpoint: str | Path | Checkpoint) -> Checkpoint:
        """Continue a run: restore the networks (strictly) and the :class:`TrainingState` (optimizers,
        schedulers, loss scale, position, RNG); training goes on at the exact next batch, mid-epoch
        included. Checkpoints without a training state (the authors', older fomm) resume at the
        epoch after theirs. ``checkpoint``: a file, or one already read."""
        if isinstance(checkpoint, Checkpoint):
            ckpt, name = checkpoint, "the checkpoint"
        else:
            ckpt, name = read_checkpoint(checkpoint), Path(checkpoint).name
        try:
            load_state_dicts(self.model.networks(), ckpt, f"checkpoint {name}")
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}\nTo start from the matching weights of a different architecture, "
                                  "use --finetune instead of --checkpoint.") from None
        missing = [n for n in self.network_names if n not in ckpt.state_dicts]
        if missing:
            logger.warning("%s has no %s weights: they start fresh", name, " or ".join(missing))
        entry = ckpt.extra.get(self.state_key)
        if isinstance(entry, Mapping):
            try:
                state = TrainingState.from_checkpoint(entry, ckpt.optimizers)
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"{name}: its {self.state_key} cannot be used ({exc}); resume from another "
                                      "checkpoint, or start from its weights with --finetune") from None
            self.load_training_state(state, name)
        else:
            self._resume_without_state(ckpt, name)
        for opt_name, optimizer in self.optimizers.items():
            for group, base in zip(optimizer.param_groups, self.schedulers[opt_name].base_lrs, strict=True):
                group.setdefault("initial_lr", base)  # absent from the original's files
        where = f"epoch {self.epoch}" + (f", batch {self.batch_in_epoch}" if self.batch_in_epoch else "")
        logger.info("resuming %s at %s (step %d)", name, where, self.global_step)
        return ckpt

    def _resume_without_state(self, ckpt: Checkpoint, name: str) -> None:
        """An original checkpoint (or an older fomm one): the epoch after its ``epoch``, the schedule
        from its scheduler states or else from the milestones."""
        for opt_name, optimizer in self.optimizers.items():
            state = ckpt.optimizers.get(self.optimizer_key(opt_name))
            if state is None:
                logger.warning("%s has no optimizer_%s: the optimizer starts fresh", name, opt_name)
                continue
            optimizer.load_state_dict(state)
            for group, base in zip(optimizer.param_groups, self.schedulers[opt_name].base_lrs, strict=True):
                group.setdefault("initial_lr", base)
        epoch = ckpt.epoch if ckpt.epoch is not None else -1
        self.start_epoch = self.epoch = epoch + 1
        self.start_batch = self.batch_in_epoch = 0
        self.global_step = int(ckpt.extra.get("global_step", self.epoch * self.steps_per_epoch))
        for opt_name, scheduler in self.schedulers.items():
            state = ckpt.extra.get(f"scheduler_{opt_name}")  # fomm files before the training state
            if state is not None:
                _load_scheduler_state(scheduler, state)
                self._warn_changed_lr(opt_name, scheduler)
            else:  # an original checkpoint: put the scheduler where epoch-wise stepping would have it
                scheduler.last_epoch = self.epoch
                gamma_power = bisect_right(sorted(self.train_params.epoch_milestones), self.epoch)
                groups = self.optimizers[opt_name].param_groups
                for group, base in zip(groups, scheduler.base_lrs, strict=True):
                    group["lr"] = base * 0.1**gamma_power
                scheduler._last_lr = [g["lr"] for g in groups]

    def finetune(self, path: str | Path | Checkpoint) -> list[str]:
        """Start from the weights of ``path`` (a file, or a checkpoint already read) whose names and shapes
        match this config (fresh optimizers, epoch 0); return the skipped differences, also logged."""
        ckpt = path if isinstance(path, Checkpoint) else read_checkpoint(path)
        skipped = self.skipped_weights = load_matching_weights(self.model.networks(), ckpt.state_dicts)
        for line in skipped:
            logger.warning("fine-tune: skipped %s", line)
        return skipped

    # ------------------------------------------------------------------------------ one step
    def _as_inputs(self, *frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The batch in the networks' memory format (channels-last with ``--channels-last``)."""
        if not self.channels_last:
            return frames
        return tuple(frame.contiguous(memory_format=torch.channels_last) for frame in frames)

    def _single_optimizer_step(self, source: torch.Tensor, driving: torch.Tensor, name: str):
        """One step of a family whose networks share one optimizer and scaler, ``name`` (MRAA's
        reconstruction, every family's AVD stage): the losses, backward, the optimizer's step."""
        source, driving = self._as_inputs(source, driving)
        with self.precision.autocast():
            losses, step = self.generator_step(source, driving)
        self._check_finite(losses, applied=False)
        optimizer, scaler = self.optimizers[name], self.scalers[name]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(sum(losses.values())).backward()
        scaler.step(optimizer)
        scaler.update()
        return {k: v.detach() for k, v in losses.items()}, step

    def train_step(self, source: torch.Tensor, driving: torch.Tensor) -> tuple[dict[str, torch.Tensor], GeneratorStep]:
        """One generator + keypoint detector step, then one discriminator step when the GAN is on."""
        source, driving = self._as_inputs(source, driving)
        discriminator = self.model.discriminator if self.gan else None
        _set_requires_grad(discriminator, False)  # its gradients from this step are discarded anyway
        with self.precision.autocast():
            losses, step = self.generator_step(source, driving, discriminator)
        self._check_finite(losses, applied=False)
        for name in ("generator", "kp_detector"):
            self.optimizers[name].zero_grad(set_to_none=True)
        scaler = self.scalers["generator"]
        scaler.scale(sum(losses.values())).backward()
        scaler.step(self.optimizers["generator"])
        scaler.step(self.optimizers["kp_detector"])
        scaler.update()
        if self.gan:
            _set_requires_grad(discriminator, True)
            self.optimizers["discriminator"].zero_grad(set_to_none=True)
            with self.precision.autocast():
                disc_losses = self.discriminator_step(step.pyramid_real, step.pyramid_generated, step.kp_driving.value)
            self._check_finite(disc_losses, applied=True)
            scaler = self.scalers["discriminator"]
            scaler.scale(sum(disc_losses.values())).backward()
            scaler.step(self.optimizers["discriminator"])
            scaler.update()
            losses.update(disc_losses)
        return {k: v.detach() for k, v in losses.items()}, step

    def _check_finite(self, losses: Mapping[str, torch.Tensor], applied: bool) -> None:
        """Stop before a NaN or inf loss reaches the weights (every rank at once under DDP)."""
        values = {name: value.detach().float().sum() for name, value in losses.items()}
        stop = not bool(torch.isfinite(torch.stack(list(values.values()))).all())  # one device sync a step
        bad = {name: float(v) for name, v in values.items() if not torch.isfinite(v)} if stop else {}
        if self.ctx.enabled:
            stop = bool(distributed.max_over_ranks(int(stop), self.ctx, self.device))
        if stop:
            shown = ", ".join(f"{name} = {value}" for name, value in bad.items()) or "on another process"
            where = f"step {self.global_step + 1} (epoch {self.epoch}, batch {self.batch_in_epoch + 1})"
            raise NonFiniteLossError(f"a non-finite loss at {where}: {shown}", applied)

    # ------------------------------------------------------------------------------ the loop
    def fit(self, on_step: StepCallback | None = None, on_epoch_end: EpochCallback | None = None) -> TrainResult:
        """Train from the current position to the end of ``num_epochs`` (or until ``max_steps``/
        ``max_minutes``/Ctrl-C, which write a checkpoint of the exact position).

        ``on_step(global_step, losses)`` and ``on_epoch_end(epoch, mean_losses, checkpoint_or_None)``
        (at the end of each finished epoch) are called on rank 0 only.
        """
        if self.epoch >= self.num_epochs:
            raise TrainingError(f"the checkpoint ends at epoch {self.epoch - 1} and train_params.num_epochs "
                                f"is {self.num_epochs}: raise it (e.g. --epochs {self.epoch + 1}) to train on")
        main = self.ctx.is_main
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.yaml").write_text(self.config.to_yaml())
            tidy_run_folder(self.out_dir, self.epoch)
            if self._tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(log_dir=str(self.out_dir))
        start = time.monotonic()
        steps = 0
        self._fit_start_step = self.global_step
        stop_reason = None
        last_checkpoint = None
        last_epoch = self.epoch - 1
        means: dict[str, float] = {}
        try:
            with InterruptFlag() as interrupt:
                while self.epoch < self.num_epochs and stop_reason is None:
                    epoch = last_epoch = self.epoch
                    self.sampler.set_epoch(epoch, start=self.batch_in_epoch * self._batch_size)
                    last = None
                    for batch in self.loader:
                        source = batch["source"].to(self.device, non_blocking=True)
                        driving = batch["driving"].to(self.device, non_blocking=True)
                        # The step's own draws (the equivariance transforms) from (seed, step, rank).
                        seed_everything(derived_seed(self.seed, self.global_step, self.ctx.rank))
                        losses, step = self.train_step(source, driving)
                        values = {k: float(v) for k, v in losses.items()}
                        for k, v in values.items():
                            self._epoch_sums[k] = self._epoch_sums.get(k, 0.0) + v
                        self._epoch_batches += 1
                        self.batch_in_epoch += 1
                        self.global_step += 1
                        steps += 1
                        last = (source, driving, step)
                        if main:
                            self._log_step(values)
                            if on_step is not None:
                                on_step(self.global_step, values)
                        stop_reason = self._stop_reason(steps, start, interrupt.requested)
                        if stop_reason is not None:
                            break
                    if stop_reason is None or self.batch_in_epoch >= self.steps_per_epoch:
                        final = stop_reason is not None or epoch == self.num_epochs - 1
                        means, checkpoint = self._end_epoch(epoch, last, final)
                        if main and on_epoch_end is not None:
                            on_epoch_end(epoch, means, checkpoint)
                    else:  # stopped in the middle of the epoch: a checkpoint of the exact position
                        means = {k: v / max(self._epoch_batches, 1) for k, v in self._epoch_sums.items()}
                        distributed.broadcast_buffers(list(self.model.networks().values()), self.ctx)
                        checkpoint = self.save() if main else None
                    last_checkpoint = checkpoint or last_checkpoint
        except Exception as exc:
            self._save_after_failure(exc, last_checkpoint)
            raise
        finally:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        return TrainResult(steps, self.global_step, last_epoch, time.monotonic() - start, last_checkpoint, means,
                           stop_reason, self.batch_in_epoch)

    def _save_after_failure(self, exc: Exception, last: Path | None) -> None:
        """After an error in the loop: a checkpoint of the last good step, so the run resumes there (its
        weights are those of the last completed step: a failed step applies nothing, unless a
        non-finite discriminator loss came after the generator's update, when the last checkpoint on
        disk is kept instead). A non-finite loss becomes a :class:`NonFiniteLossError` naming it."""
        applied = isinstance(exc, NonFiniteLossError) and exc.applied
        saved = None
        if self.ctx.is_main and not applied and self.global_step > self._fit_start_step:
            try:
                saved = self.save()
            except Exception as error:  # the disk that failed the run may fail this too: keep the first error
                logger.warning("could not write a checkpoint after the error: %s", error)
            else:
                logger.warning("training failed at step %d; the checkpoint of the last good step is %s",
                               self.global_step + 1, saved)
        if isinstance(exc, NonFiniteLossError):
            kept = saved or last
            where = f"the last finite checkpoint is {kept}" if kept else "no checkpoint was written yet"
            raise NonFiniteLossError(f"{exc}; training stopped, {where}: lower the learning rates "
                                     "(train_params.lr_*) or check the data, and fine-tune from it (--finetune)",
                                     exc.applied) from None

    def _stop_reason(self, steps: int, start: float, interrupted: bool) -> str | None:
        code = 0
        if self.max_steps is not None and steps >= self.max_steps:
            code = 1
        if self.max_minutes is not None and time.monotonic() - start >= self.max_minutes * 60:
            code = max(code, 2)
        if interrupted:
            code = 3
        if self.ctx.enabled:  # every rank stops at the same step, or DDP would wait forever
            code = distributed.max_over_ranks(code, self.ctx, self.device)
        return _STOP_REASONS[code]

    def _log_step(self, values: dict[str, float]) -> None:
        if self._writer is not None:
            for name, value in values.items():
                self._writer.add_scalar(f"loss/{name}", value, self.global_step)

    def _end_epoch(self, epoch: int, last, final: bool):
        """The end of a finished epoch: its log line, the learning-rate step, the picture, and the
        checkpoint when due (written after the position moved to the next epoch)."""
        means = {k: v / max(self._epoch_batches, 1) for k, v in self._epoch_sums.items()}
        means = distributed.mean_over_ranks(means, self.ctx, self.device)
        with warnings.catch_warnings():
            # Without the GAN the discriminator's optimizer never steps; its schedule still advances (as
            # the original) so that a later adversarial fine-tune starts from the right learning rate.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            for scheduler in self.schedulers.values():
                scheduler.step()
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        self._epoch_sums, self._epoch_batches = {}, 0
        if final:
            distributed.broadcast_buffers(list(self.model.networks().values()), self.ctx)
        checkpoint = None
        if self.ctx.is_main:
            diagnostics = self._keypoint_diagnostics(epoch, last)
            append_log_line(self.out_dir, epoch, {**means, **diagnostics})
            if self._writer is not None:
                for name, value in means.items():
                    self._writer.add_scalar(f"epoch/{name}", value, epoch)
                for name, optimizer in self.optimizers.items():
                    self._writer.add_scalar(f"lr/{name}", optimizer.param_groups[0]["lr"], epoch)
            if self.visualize and last is not None:
                source, driving, step = last
                image = self.picture(source, driving, step)
                write_image(self.out_dir / "train-vis" / f"{epoch:08d}-rec.png", image)
                if self._writer is not None:
                    self._writer.add_image("train-vis", image, epoch, dataformats="HWC")
            if final or (epoch + 1) % self.train_params.checkpoint_freq == 0:
                checkpoint = self.save()
            if self._writer is not None:
                self._writer.flush()
        return means, checkpoint

    def _keypoint_diagnostics(self, epoch: int, last) -> dict[str, float]:
        """The monitor's ``kp_*`` values (also to TensorBoard, and its picture to train-vis/)."""
        if self.keypoint_monitor is None:
            return {}
        fallback = None if last is None else last[1]
        detector = getattr(self.model, self.detector_name)
        stats = self.keypoint_monitor.measure(detector, fallback)
        if stats is None:
            return {}
        values = stats.scalars()
        if self._writer is not None:
            for name, value in values.items():
                self._writer.add_scalar(f"kp/{name[3:]}", value, epoch)
        if self.visualize:
            image = self.keypoint_monitor.picture(detector, fallback)
            if image is not None:
                write_image(self.out_dir / "train-vis" / f"{epoch:08d}-kp.png", image)
                if self._writer is not None:
                    self._writer.add_image("train-vis/keypoints", image, epoch, dataformats="HWC")
        return values

    def save(self) -> Path:
        """Write the checkpoint of the current position: ``<epoch:08d>-checkpoint.pth.tar`` at the end
        of an epoch, ``<epoch:08d>-batch<batch:08d>-checkpoint.pth.tar`` in the middle of one. The
        original format (which the authors' code loads; ``epoch`` = the last completed epoch) plus
        ``config`` and the :class:`TrainingState` under ``fomm_training_state``. Written atomically;
        once it is on disk, the mid-epoch checkpoints of earlier positions are removed."""
        state = self.training_state()
        if state.batch:
            path = self.out_dir / checkpoint_name(state.epoch, state.batch)
        else:
            path = self.out_dir / checkpoint_name(state.completed_epoch)
        save_checkpoint(path, self.model.networks(), self.config, self.checkpoint_epoch(state), self.optimizers,
                        self.checkpoint_extra(state), epoch_key=self.epoch_key)
        logger.info("checkpoint %s", path)
        here = (state.epoch, state.batch)
        for older in self.out_dir.glob("*-batch*-checkpoint.pth.tar"):
            position = checkpoint_position(older.name)
            if position is not None and position < here:
                older.unlink(missing_ok=True)
        return path


# checkpoint_name ... format_log_line: re-exported from their modules (checkpointing, logs) for older imports.
__all__ = ["LOSS_ORDER", "TrainResult", "Trainer", "TrainingError", "TrainingState", "checkpoint_name",
           "checkpoint_position", "format_log_line", "latest_checkpoint", "load_matching_weights",
           "training_precision"]
