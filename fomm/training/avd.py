"""The AVD stage (``fomm train --stage avd``): the animation-via-disentanglement network (MRAA Sec. 3.4)
trained on the frozen motion networks of a reconstruction checkpoint, for every family, as the TPSMM
authors' ``train_avd.py`` does it (MRAA's from its paper and ``train_avd_params``).

One step: the motion of the source and driving frames (a pair of one video) by the frozen detector (in
eval mode: frozen includes its batch-norm statistics, which the authors' script lets drift); the
driving motion scaled about the origin by a random factor per axis, uniform in ``1 +- random_scale``
(the pose kept, the shape changed); the AVD network reads the source's motion (the identity) and the
scaled driving motion (the pose) and must give back the driving motion unscaled. Loss: ``lambda_shift``
x the L1 of the points (TPSMM's ``rec_kp``; MRAA's region shifts, FOMM's keypoints), plus
``lambda_affine`` x the L1 of the 2x2 maps (MRAA's affines, FOMM's jacobians). Adam (betas 0.5, 0.999,
no weight decay) at ``lr``, x0.1 at ``epoch_milestones``.

The checkpoints hold what the reconstruction checkpoint held (every network, its optimizers, its epoch
and training state) plus ``avd_network`` and ``optimizer_avd``, and this stage's epoch under the
family's key: TPSMM's ``epoch`` (as its authors' script overwrites it), MRAA's ``epoch_avd``, and
``epoch_avd`` for FOMM (whose ``epoch`` stays the reconstruction's); its exact-resume state is under
:data:`AVD_STATE_KEY`, beside the reconstruction's. FOMM's AVD network is our extension
(:class:`~fomm.models.avd.KeypointAVDNetwork`, MRAA's layout over each keypoint and its jacobian).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoints import Checkpoint, read_checkpoint
from ..config import AVDNetworkParams, Config, TrainAVDParams
from ..families import config_family
from ..models import Keypoints
from . import distributed
from .errors import TrainingError
from .trainer import Trainer, TrainResult
from .visualize import avd_grid

logger = logging.getLogger(__name__)

AVD_STATE_KEY = "fomm_avd_training_state"  # the AVD stage's TrainingState (the reconstruction's keeps its key)


# ------------------------------------------------------------------------------ per family
def random_scale(bs: int, scale: float) -> torch.Tensor:
    """(B, 1, 2, 2) diagonal scalings, each axis's factor uniform in [1 - scale, 1 + scale], drawn as the
    TPSMM authors' ``random_scale`` draws them (one ``torch.rand(B, 2)`` on the CPU generator)."""
    theta = torch.rand(bs, 2) * (2 * scale) + (1 - scale)
    return torch.diag_embed(theta).unsqueeze(1)


def _scaled(points: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    return torch.matmul(theta, points.unsqueeze(-1)).squeeze(-1)


def _scale_keypoints(kp: Keypoints, theta: torch.Tensor) -> Keypoints:
    jacobian = None if kp.jacobian is None else torch.matmul(theta, kp.jacobian)
    return Keypoints(_scaled(kp.value, theta), jacobian)


def _scale_regions(regions, theta: torch.Tensor):
    from ..models.mraa import Regions

    return Regions(_scaled(regions.shift, theta), torch.matmul(theta, regions.affine),
                   theta @ regions.covar @ theta.transpose(-1, -2))


@dataclass(frozen=True)
class PoseRules:
    """What the stage needs to know of a family: its motion detector, how to scale a motion, the loss
    terms' names (``shift_name`` for the points, ``affine_name`` for the 2x2 maps, None: none) and the
    checkpoint key of this stage's epoch."""

    detector: str  # the model's attribute
    scale: Callable[[Any, torch.Tensor], Any]
    shift_name: str
    affine_name: str | None
    epoch_key: str
    float32_detector: bool = False  # detect in float32 under any --precision, as the family's backend does


RULES = {
    "fomm": PoseRules("kp_detector", _scale_keypoints, "rec_kp", "rec_jacobian", "epoch_avd"),
    # TPSMM's ResNet regresses coordinates, which bf16 would round by pixels (TPSMMBackend.keypoints)
    "tpsmm": PoseRules("kp_detector", _scale_keypoints, "rec_kp", None, "epoch", float32_detector=True),
    "mraa": PoseRules("region_predictor", _scale_regions, "rec_shift", "rec_affine", "epoch_avd"),
}


def with_avd_sections(config: Any) -> Any:
    """``config`` with the AVD sections a FOMM config may lack filled with their defaults (the other
    families' configs always have them), so that the checkpoints record what was trained."""
    if not isinstance(config, Config):
        return config
    mp = config.model_params
    if mp.avd_network_params is None:
        mp = dataclasses.replace(mp, avd_network_params=AVDNetworkParams())
    return dataclasses.replace(config, model_params=mp, train_avd_params=config.train_avd_params or TrainAVDParams())


# ------------------------------------------------------------------------------ one step
@dataclass
class AVDStep:
    """A step's motions, for the picture."""

    kp_source: Any
    kp_driving: Any


class AVDLoss(nn.Module):
    """The frozen detector and the AVD network of one step, in one module (DDP sees the AVD network's
    parameters; the detector's take no gradient). ``forward(source, driving)`` -> ``(losses, step)``."""

    def __init__(self, detector: nn.Module, avd_network: nn.Module, rules: PoseRules, train_params):
        super().__init__()
        self.detector, self.avd_network, self.rules, self.train_params = detector, avd_network, rules, train_params

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> tuple[dict[str, torch.Tensor], AVDStep]:
        tp, rules = self.train_params, self.rules
        as_run = torch.autocast(driving.device.type, enabled=False) if rules.float32_detector else nullcontext()
        with torch.no_grad(), as_run:
            kp_source = self.detector(source).to(torch.float32)
            kp_driving = self.detector(driving).to(torch.float32)
        theta = random_scale(driving.shape[0], tp.random_scale).to(driving.device)
        with torch.autocast(driving.device.type, enabled=False):  # an MLP on coordinates: float32
            rec = self.avd_network(kp_source, rules.scale(kp_driving, theta))
            losses = {rules.shift_name: tp.lambda_shift * (kp_driving.value - rec.value).abs().mean()}
            lambda_affine = getattr(tp, "lambda_affine", None)
            if rules.affine_name is not None and lambda_affine and kp_driving.jacobian is not None:
                losses[rules.affine_name] = lambda_affine * (kp_driving.jacobian - rec.jacobian).abs().mean()
        return losses, AVDStep(kp_source, kp_driving)


# ------------------------------------------------------------------------------ the trainer
class AVDTrainer(Trainer):
    """:class:`~fomm.training.trainer.Trainer` for the AVD stage of any family: the same loop, data,
    logs, checkpoints, exact resume, precision and DDP; the stage's parameters are ``train_avd_params``.
    It trains on the networks of the checkpoint given to :meth:`resume` (a reconstruction checkpoint
    starts the stage at epoch 0; one of this stage resumes it exactly), which is required."""

    scaler_names = ("avd",)
    state_key = AVD_STATE_KEY
    network_names = ()  # a checkpoint without avd_network is the usual start: nothing to warn about

    def __init__(self, config: Any, *args, **kwargs):
        self.family = config_family(config)
        if self.family.name not in RULES:
            raise TrainingError(f"fomm train --stage avd has no rules for the {self.family.name} family")
        self.rules = RULES[self.family.name]
        self.epoch_key = self.rules.epoch_key
        self.carried: dict[str, Any] = {}  # the reconstruction checkpoint's entries, kept in ours
        self._resumed = False
        self._backend = None
        super().__init__(with_avd_sections(config), *args, **kwargs)
        self.keypoint_monitor = None  # the detector is frozen: its measures do not change

    def stage_params(self, config: Any):
        return config.train_avd_params

    def _build(self, vgg, batched_vgg: bool) -> None:
        tp, device = self.train_params, self.device
        if not tp.lambda_shift and not getattr(tp, "lambda_affine", None):
            raise TrainingError("train_avd_params.lambda_shift (and lambda_affine) are 0: nothing to train")
        if not 0 <= tp.random_scale < 1:
            raise TrainingError(f"train_avd_params.random_scale must be in [0, 1) (the scale factors are "
                                f"1 +- random_scale), got {tp.random_scale}")
        if tp.batch_size // self.ctx.world_size < 2:
            raise TrainingError(f"train_avd_params.batch_size {tp.batch_size} gives each of the {self.ctx.world_size} "
                                "process(es) fewer than 2 samples: the AVD network's batch norms need at least 2; "
                                "raise it (--batch-size)")
        self.gan, self.vgg_weights, self.discriminator_step = False, None, None
        self.model = self.family.build_model(self.config, self.family.networks)
        model = self.model
        if model.avd_network is None:
            raise TrainingError("the config builds no AVD network (model_params.avd_network_params)")
        model.to(device).eval().requires_grad_(False)
        if self.ctx.enabled:
            model.avd_network = distributed.sync_batchnorm(model.avd_network, device)
        model.avd_network.train().requires_grad_(True)
        if self.channels_last:
            getattr(model, self.rules.detector).to(memory_format=torch.channels_last)
        self.generator_loss = AVDLoss(getattr(model, self.rules.detector), model.avd_network, self.rules, tp)
        self.generator_step = distributed.wrap(self.generator_loss, self.ctx, device)

    def _make_optimizers(self, fused: bool) -> dict[str, torch.optim.Adam]:
        with self._adam_kernel():
            return {"avd": torch.optim.Adam(self.model.avd_network.parameters(), lr=self.train_params.lr,
                                            betas=(0.5, 0.999), fused=True if fused else None)}

    def configured_lr(self, name: str) -> float:
        return self.train_params.lr

    def checkpoint_extra(self, state) -> dict[str, Any]:
        return {**self.carried, self.state_key: state.to_checkpoint()}

    # ------------------------------------------------------------------------------ starting
    def resume(self, checkpoint: str | Path | Checkpoint) -> Checkpoint:
        """Start the stage on the networks of a reconstruction checkpoint (epoch 0; an ``avd_network``
        it holds, as the published TPSMM and MRAA files do, is trained on), or resume a checkpoint of
        this stage exactly. Networks the checkpoint lacks (FOMM's discriminator in an inference-only
        file) are left out of this stage's checkpoints."""
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else read_checkpoint(checkpoint)
        for name in list(self.model.networks()):
            if name != "avd_network" and name not in ckpt.state_dicts:
                setattr(self.model, name, None)
        own = {"optimizer_avd", self.epoch_key, self.state_key}
        self.carried = {k: v for k, v in {**ckpt.optimizers, **ckpt.extra}.items() if k not in own}
        if ckpt.epoch is not None and ckpt.epoch_key not in own:
            self.carried[ckpt.epoch_key] = ckpt.epoch
        ckpt = super().resume(ckpt)
        self._resumed = True
        return ckpt

    def _resume_without_state(self, ckpt: Checkpoint, name: str) -> None:
        self.start_epoch = self.epoch = self.start_batch = self.batch_in_epoch = self.global_step = 0
        start = "its avd_network" if "avd_network" in ckpt.state_dicts else "a new AVD network"
        logger.info("AVD stage on the frozen networks of %s, from %s with a new optimizer", name, start)

    def fit(self, *args, **kwargs) -> TrainResult:
        if not self._resumed:
            raise TrainingError("the AVD stage trains on the motion networks of a reconstruction run: give its "
                                "checkpoint (fomm train --stage avd --checkpoint RUN)")
        return super().fit(*args, **kwargs)

    # ------------------------------------------------------------------------------ one step
    def train_step(self, source: torch.Tensor, driving: torch.Tensor) -> tuple[dict[str, torch.Tensor], AVDStep]:
        return self._single_optimizer_step(source, driving, "avd")

    def picture(self, source: torch.Tensor, driving: torch.Tensor, step: AVDStep) -> np.ndarray:
        """Each source animated by the next sample's driving frame (another pose, usually another shape)
        through the AVD network, in eval mode: source, driving frame, result, with their points."""
        if self._backend is None:
            self._backend = self.family.make_backend(self.model, channels_last=False)
        backend, avd = self._backend, self.model.avd_network
        n = min(8, source.shape[0])
        order = [(i + 1) % n for i in range(n)]
        driving, kp_driving = driving[order], step.kp_driving[order]
        avd.eval()
        try:
            with torch.no_grad():
                kp_avd = backend.normalize(step.kp_source[:n], kp_driving, None, mode="avd", adapt_scale=False)
                predictions = [backend.decode(backend.encode_source(source[i:i + 1]), source[i:i + 1],
                                              kp_avd[i:i + 1], step.kp_source[i:i + 1]) for i in range(n)]
        finally:
            avd.train()
        return avd_grid(source[:n], driving, torch.cat(predictions), step.kp_source[:n], kp_driving, kp_avd)


__all__ = ["AVDLoss", "AVDTrainer", "AVD_STATE_KEY", "PoseRules", "RULES", "random_scale", "with_avd_sections"]
