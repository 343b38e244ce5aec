"""Small building blocks shared by the PWC modules."""
from __future__ import annotations

import torch.nn as nn


def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1, act: bool = True) -> nn.Module:
    """3x3 convolution ("same" padding for stride 1), optionally followed by LeakyReLU(0.1)."""
    layer = nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation)
    return nn.Sequential(layer, nn.LeakyReLU(0.1, inplace=True)) if act else layer
