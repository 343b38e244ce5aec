"""Context network: dilated convolutions that refine the finest flow estimate."""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import conv

_DILATIONS = (1, 2, 4, 8, 16, 1, 1, 1)


class ContextNet(nn.Module):
    """``[B,cin,h,w]`` (estimator features + flow) -> flow residual ``[B,2,h,w]``.

    Widths ``widths[i]`` use dilation ``(1, 2, 4, 8, 16, 1, ...)[i]``; a last 3x3 conv outputs 2 channels.
    """

    def __init__(self, cin: int, widths: tuple[int, ...]):
        super().__init__()
        layers, c = [], cin
        for i, width in enumerate(widths):
            layers.append(conv(c, width, dilation=_DILATIONS[min(i, len(_DILATIONS) - 1)]))
            c = width
        layers.append(conv(c, 2, act=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
