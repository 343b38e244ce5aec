"""Cost volume (correlation) with a small search window, in plain torch ops."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def unit_features(f: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Remove each pixel's channel mean and scale its feature vector to unit length (``[B,C,H,W]``)."""
    f = f - f.mean(1, keepdim=True)
    return f / (torch.linalg.vector_norm(f, dim=1, keepdim=True) + eps)


def cost_volume(f1: torch.Tensor, f2: torch.Tensor, max_disp: int = 4, normalize: bool = False) -> torch.Tensor:
    """Correlation of ``f1`` with ``f2`` shifted by every ``(dx, dy)`` in ``[-d, d]**2``.

    Args:
        f1, f2: ``[B,C,H,W]`` features of frame 1 and (warped) frame 2.
        max_disp: search radius ``d``.
        normalize: correlate unit, zero-mean feature vectors (cosine similarity) instead of
            taking the channel mean of the raw products (PWC-Net).  Even untrained features
            then peak at the right displacement, which makes training much faster.

    Returns:
        ``[B,(2d+1)**2,H,W]``: channel ``(dy + d) * (2d + 1) + (dx + d)`` compares
        ``f1[:,y,x]`` with ``f2[:,y+dy,x+dx]`` (zero outside frame 2), then LeakyReLU(0.1).
    """
    b, c, h, w = f1.shape
    d = max_disp
    if normalize:
        f1, f2 = unit_features(f1), unit_features(f2)
    f2p = F.pad(f2, (d, d, d, d))
    out = []
    for dy in range(2 * d + 1):
        for dx in range(2 * d + 1):
            prod = f1 * f2p[:, :, dy:dy + h, dx:dx + w]
            out.append(prod.sum(1) if normalize else prod.mean(1))
    return F.leaky_relu(torch.stack(out, 1), 0.1)
