"""ResNet encoder in plain torch (no torchvision): basic blocks, configurable widths and depth.

``ResNetEncoder(arch)(x [B,3,H,W])`` -> five feature maps at 1/2 (stem), 1/4, 1/8, 1/16 and
1/32 of the input resolution, with ``arch.stem`` and ``arch.widths`` channels.
"""
from __future__ import annotations

import torch
from torch import nn

from .arch import DepthArch


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.down is None else self.down(x)))


class ResNetEncoder(nn.Module):
    def __init__(self, arch: DepthArch):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, arch.stem, 7, 2, 3, bias=False), nn.BatchNorm2d(arch.stem),
                                  nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, 1)
        stages = []
        cin = arch.stem
        for i, (w, n) in enumerate(zip(arch.widths, arch.blocks)):
            layers = [BasicBlock(cin, w, 1 if i == 0 else 2)] + [BasicBlock(w, w) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            cin = w
        self.stages = nn.ModuleList(stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def channels(self) -> list[int]:
        return [self.stem[0].out_channels] + [s[-1].conv2.out_channels for s in self.stages]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        y = self.pool(feats[0])
        for stage in self.stages:
            y = stage(y)
            feats.append(y)
        return feats
