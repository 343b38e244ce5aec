"""Learned convex upsampling of a coarse flow (the idea of RAFT's upsampler, written for this network).

Each output pixel's flow is a convex combination of the 3x3 coarse flows around its coarse
pixel; the weights (9 per output pixel, softmax-normalised) are predicted from the estimator's
features.  Borders are replicate-padded, so a constant flow stays exactly constant.

At initialisation the weights are those of bilinear upsampling (``align_corners=False``, as
:func:`vo_app.geometry.warp.resize_flow`), so a network trained with bilinear upsampling keeps
its accuracy when the upsampler is added and fine-tuned (``vo-train flow --init``).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def bilinear_taps(factor: int) -> torch.Tensor:
    """``[9, factor, factor]`` weights of the 3x3 coarse neighbours (row-major, offsets -1..1) that
    bilinear upsampling by ``factor`` gives each of the ``factor x factor`` output sub-pixels."""
    w1 = torch.zeros(factor, 3, dtype=torch.float64)
    for i in range(factor):
        o = (i + 0.5) / factor - 0.5  # sub-pixel centre relative to the coarse pixel centre, in coarse pixels
        if o < 0:
            w1[i, 0], w1[i, 1] = -o, 1 + o
        else:
            w1[i, 1], w1[i, 2] = 1 - o, o
    taps = torch.einsum("ia,jb->abij", w1, w1)  # [3(dy), 3(dx), fy, fx]
    return taps.reshape(9, factor, factor).float()


def convex_upsample(flow: torch.Tensor, logits: torch.Tensor, factor: int) -> torch.Tensor:
    """Upsample ``flow [B,2,h,w]`` (coarse pixels) by ``factor`` with ``logits [B,9*factor**2,h,w]``.

    Returns ``[B,2,h*factor,w*factor]`` in output pixels: per output pixel, the softmax of its 9
    logits weighs the 3x3 coarse neighbours (multiplied by ``factor``).
    """
    b, c, h, w = flow.shape
    if c != 2:
        raise ValueError(f"flow must be [B,2,h,w], got {tuple(flow.shape)}")
    if tuple(logits.shape) != (b, 9 * factor * factor, h, w):
        raise ValueError(f"logits must be [B,{9 * factor * factor},{h},{w}], got {tuple(logits.shape)}")
    weights = logits.view(b, 1, 9, factor, factor, h, w).softmax(dim=2)
    neigh = F.unfold(F.pad(flow * factor, (1, 1, 1, 1), mode="replicate"), 3).view(b, 2, 9, 1, 1, h, w)
    up = (weights * neigh).sum(dim=2)  # [B,2,fy,fx,h,w]
    return up.permute(0, 1, 4, 2, 5, 3).reshape(b, 2, h * factor, w * factor)


class ConvexUpsampler(nn.Module):
    """``forward(flow [B,2,h,w], features [B,cin,h,w]) -> [B,2,h*factor,w*factor]`` (output pixels)."""

    def __init__(self, cin: int, factor: int, hidden: int = 32):
        super().__init__()
        self.factor = _check_factor(factor)
        self.hidden = nn.Sequential(nn.Conv2d(cin, hidden, 3, padding=1), nn.LeakyReLU(0.1, inplace=True))
        self.logits = nn.Conv2d(hidden, 9 * factor * factor, 1)
        self.start_bilinear()

    @torch.no_grad()
    def start_bilinear(self) -> None:
        """Zero logit weights and the log of the bilinear taps as biases: bilinear upsampling (to ~1e-5 px/px)."""
        self.logits.weight.zero_()
        self.logits.bias.copy_(torch.log(bilinear_taps(self.factor).clamp_min(1e-6)).reshape(-1))

    def forward(self, flow: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return convex_upsample(flow, self.logits(self.hidden(features)), self.factor)


def _check_factor(factor: int) -> int:
    if factor < 1 or 2 ** int(math.log2(factor)) != factor:
        raise ValueError(f"upsampling factor must be a power of two, got {factor}")
    return factor
