"""Per-level optical flow estimator: a (dense) conv stack on cost volume, features and flow."""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers import conv


class FlowEstimator(nn.Module):
    """Predicts the flow of one level and hands its last features to the context network.

    Input ``[B,cin,h,w]`` (cost volume, frame-1 features, upsampled flow); output
    ``(flow [B,2,h,w], features [B,out_channels,h,w])``.  With ``dense`` each conv's output is
    concatenated to its input (DenseNet), otherwise the convs are chained.
    """

    def __init__(self, cin: int, widths: tuple[int, ...], dense: bool = True):
        super().__init__()
        self.dense = dense
        convs, c = [], cin
        for width in widths:
            convs.append(conv(c, width))
            c = c + width if dense else width
        self.convs = nn.ModuleList(convs)
        self.out_channels = c
        self.predict = conv(c, 2, act=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.convs:
            y = layer(x)
            x = torch.cat([x, y], 1) if self.dense else y
        return self.predict(x), x
