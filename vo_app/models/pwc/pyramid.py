"""Feature pyramid: six stride-2 stages, each a few 3x3 convolutions."""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import conv


class FeaturePyramid(nn.Module):
    """``[B,3,H,W]`` image -> features of levels 1..6, level l ``[B,C_l,H/2**l,W/2**l]``.

    ``H`` and ``W`` must be multiples of 64.  Each stage: a stride-2 conv and two stride-1 convs.
    """

    def __init__(self, widths: tuple[int, ...], in_channels: int = 3):
        super().__init__()
        stages, cin = [], in_channels
        for c in widths:
            stages.append(nn.Sequential(conv(cin, c, stride=2), conv(c, c), conv(c, c)))
            cin = c
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats  # feats[l - 1] is level l
