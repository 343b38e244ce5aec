"""DispNet-style decoder with skip connections, ELU, bilinear upsampling and sigmoid disparities.

From the 1/32 features up: at each level a 3x3 conv + ELU, a x2 bilinear upsampling, the
encoder's skip features of that resolution concatenated, another 3x3 conv + ELU; disparity
heads (3x3 conv + sigmoid) at full, 1/2, 1/4 and 1/8 resolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .arch import DepthArch


class ConvELU(nn.Sequential):
    """3x3 convolution (reflection padding) followed by ELU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ELU(inplace=True))


class DispDecoder(nn.Module):
    def __init__(self, arch: DepthArch, enc_channels: list[int]):
        super().__init__()
        dec = list(arch.decoder)
        self.scales = arch.scales
        self.up0 = nn.ModuleList()
        self.up1 = nn.ModuleList()
        cin = enc_channels[-1]
        for i in range(4, -1, -1):  # output resolution 1/2**i
            self.up0.append(ConvELU(cin, dec[i]))
            skip = enc_channels[i - 1] if i > 0 else 0
            self.up1.append(ConvELU(dec[i] + skip, dec[i]))
            cin = dec[i]
        self.heads = nn.ModuleList(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dec[s], 1, 3))
                                   for s in range(self.scales))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """``feats``: the encoder's five maps (1/2 .. 1/32).  Returns disparities in (0, 1),
        finest first: ``[B,1,H,W]``, ``[B,1,H/2,W/2]``, ...  (``arch.scales`` of them)."""
        x = feats[-1]
        out: dict[int, torch.Tensor] = {}
        for k, i in enumerate(range(4, -1, -1)):
            x = self.up0[k](x)
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            if i > 0:
                x = torch.cat([x, feats[i - 1]], 1)
            x = self.up1[k](x)
            if i < self.scales:
                out[i] = torch.sigmoid(self.heads[i](x))
        return [out[s] for s in range(self.scales)]
