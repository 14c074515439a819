"""The batch-norm folding prototype behind ``benchmarks/compile.py``'s ``folded`` variant (kept out of
the library: it measured within noise, see docs/benchmarks.md). conv -> BatchNorm (eval mode) is one
affine map per channel after a convolution, so it folds exactly into the convolution's weights and
bias, saving one pass over every feature map it touched.

FOMM's ``SameBlock2d``, ``DownBlock2d`` and ``UpBlock2d`` are conv -> BN -> ReLU: they fold.
``ResBlock2d`` is BN -> ReLU -> conv (pre-activation): the ReLU sits between the norm and the conv,
so it does not. Folding happens in a copy (:func:`folded_copy`): the model's modules, parameters,
``state_dict`` and checkpoints are never changed.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from fomm.models.blocks import DownBlock2d, SameBlock2d, UpBlock2d

FOLDABLE = (SameBlock2d, DownBlock2d, UpBlock2d)


def fold_conv_bn(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution computing ``norm(conv(x))`` of ``norm`` in eval mode (running statistics).

    ``w' = w * g / sqrt(var + eps)``, ``b' = (b - mean) * g / sqrt(var + eps) + beta``, computed in
    float64 and rounded once to the weights' dtype. ``conv`` and ``norm`` are left unchanged.
    """
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError("a batch norm without running statistics (track_running_stats=False) does not fold")
    dtype = conv.weight.dtype
    scale = norm.running_var.double().add(norm.eps).rsqrt()
    if norm.weight is not None:
        scale = scale * norm.weight.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    bias = (bias - norm.running_mean.double()) * scale
    if norm.bias is not None:
        bias = bias + norm.bias.double()
    weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.ndim - 1)))
    fused = copy.copy(conv)  # same hyper-parameters; fresh parameters below, the original keeps its own
    fused._parameters = dict(conv._parameters)
    fused.weight = nn.Parameter(weight.to(dtype).contiguous(memory_format=_memory_format(conv.weight)),
                                requires_grad=False)
    fused.bias = nn.Parameter(bias.to(dtype), requires_grad=False)
    return fused


def _memory_format(tensor: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if tensor.ndim == 4 and tensor.is_contiguous(memory_format=torch.channels_last) \
        and not tensor.is_contiguous() else torch.contiguous_format


def fold_batch_norms(module: nn.Module) -> int:
    """Fold, in place, every conv -> BN -> ReLU block of ``module`` (its ``norm`` becomes an identity);
    returns how many were folded. Only for inference: the result has no batch norm to train."""
    count = 0
    for block in module.modules():
        if isinstance(block, FOLDABLE) and isinstance(block.norm, nn.BatchNorm2d):
            block.conv = fold_conv_bn(block.conv, block.norm)
            block.norm = nn.Identity()
            count += 1
    return count


def folded_copy(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with its batch norms folded (:func:`fold_batch_norms`).

    The copy shares every tensor it does not change with ``model`` (no second copy of the weights);
    only the folded convolutions get new ones. ``model`` itself is not modified.
    """
    shared = {id(t): t for t in (*model.parameters(), *model.buffers())}
    copied = copy.deepcopy(model, memo=shared)
    copied.eval()
    fold_batch_norms(copied)
    return copied
