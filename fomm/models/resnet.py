"""ResNet-18 (He et al., CVPR 2016) with torchvision's parameter names, so that checkpoints holding a
``torchvision.models.resnet18`` (TPSMM's keypoint and background regressors) load strictly, without
depending on torchvision."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, plus the input (projected by ``downsample`` when the
    stride or width changes)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity, inplace=True)


class ResNet18(nn.Module):
    """(B, in_channels, H, W) -> (B, num_outputs): four stages of two basic blocks (64, 128, 256, 512
    channels), global average pooling and a linear head ``fc``. Any input size of at least 32 px.
    ``width``: the first stage's channels (64 published; the stages double it), so that a small model
    can have a narrow ResNet-18 of the same structure."""

    def __init__(self, num_outputs: int, in_channels: int = 3, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        widths = (width, 2 * width, 4 * width, 8 * width)
        in_planes = width
        for index, planes in enumerate(widths):
            stride = 1 if index == 0 else 2
            self.add_module(f"layer{index + 1}", nn.Sequential(BasicBlock(in_planes, planes, stride),
                                                               BasicBlock(planes, planes)))
            in_planes = planes
        self.fc = nn.Linear(8 * width, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled ``8 * width``-d descriptor before ``fc``."""
        x = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))
