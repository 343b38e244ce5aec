"""Differentiable flow warping and flow-derived masks in torch (training and learned runtime).

Conventions: images and features are ``[B,C,H,W]``; flows are ``[B,2,H,W]`` in pixels,
channel 0 = dx, channel 1 = dy, with ``img1(p) ~ img2(p + flow_fwd(p))``; pixel (0, 0) is
the centre of the top-left pixel.  The NumPy counterparts used by the VO pipeline are in
:mod:`vo_app.geometry._reference.flow_masks`; :func:`occlusion_from_backward` computes the same
M_o as :func:`vo_app.geometry._reference.flow_masks.occlusion_mask` (tested against it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_grid_t(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``[1,2,H,W]`` pixel-centre coordinates (x, y)."""
    ys = torch.arange(h, device=device, dtype=dtype).view(1, 1, h, 1).expand(1, 1, h, w)
    xs = torch.arange(w, device=device, dtype=dtype).view(1, 1, 1, w).expand(1, 1, h, w)
    return torch.cat([xs, ys], 1)


def backward_warp(x: torch.Tensor, flow: torch.Tensor, padding: str = "zeros") -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``x`` at ``p + flow(p)`` (bilinear): the "backward warp" of frame 2 into frame 1.

    Args:
        x: ``[B,C,H,W]`` image or features of frame 2.
        flow: ``[B,2,H,W]`` flow of frame 1 (pixels), same ``H,W``.
        padding: ``"zeros"`` or ``"border"`` for targets outside the image.

    Returns:
        ``(warped [B,C,H,W], inside [B,1,H,W])``; ``inside`` is 1 where the target lies in
        the pixel-centre rectangle of frame 2, else 0 (no gradient).
    """
    b, _, h, w = x.shape
    tgt = pixel_grid_t(h, w, x.device, flow.dtype) + flow
    gx = tgt[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = tgt[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], -1)  # [B,H,W,2]
    warped = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode=padding, align_corners=True)
    with torch.no_grad():
        inside = ((tgt[:, 0] >= 0) & (tgt[:, 0] <= w - 1) & (tgt[:, 1] >= 0) & (tgt[:, 1] <= h - 1))
    return warped, inside.unsqueeze(1).to(x.dtype)


def occlusion_from_backward(flow_bwd: torch.Tensor) -> torch.Tensor:
    """M_o of frame 1 from the backward flow: splat ones along ``flow_bwd``, clamp to [0, 1].

    Each pixel of frame 2 deposits bilinear weights at ``q + flow_bwd(q)`` in frame 1; frame-1
    pixels that receive (almost) nothing are occluded in frame 2.  ``flow_bwd`` is
    ``[B,2,H,W]``; returns ``[B,1,H,W]`` without gradient.
    """
    with torch.no_grad():
        b, _, h, w = flow_bwd.shape
        f = flow_bwd.float()
        tgt = pixel_grid_t(h, w, f.device) + f
        x, y = tgt[:, 0].reshape(b, -1), tgt[:, 1].reshape(b, -1)
        x0, y0 = torch.floor(x), torch.floor(y)
        acc = torch.zeros(b, h * w + 1, device=f.device, dtype=torch.float32)
        for dx in (0.0, 1.0):
            for dy in (0.0, 1.0):
                xi, yi = x0 + dx, y0 + dy
                wgt = (1.0 - (x - xi).abs()) * (1.0 - (y - yi).abs())
                ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h) & torch.isfinite(wgt)
                idx = torch.where(ok, yi * w + xi, torch.full_like(xi, h * w)).long()
                acc.scatter_add_(1, idx, torch.where(ok, wgt, torch.zeros_like(wgt)))
        return acc[:, :-1].clamp(0.0, 1.0).view(b, 1, h, w).to(flow_bwd.dtype)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize ``[B,2,H,W]`` flow to ``size = (h, w)`` and rescale its values to match."""
    h, w = flow.shape[-2:]
    th, tw = size
    if (th, tw) == (h, w):
        return flow
    out = F.interpolate(flow, size=(th, tw), mode="bilinear", align_corners=False)
    scale = torch.tensor([tw / w, th / h], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)
    return out * scale


def downsample_flow(flow: torch.Tensor, factor: int) -> torch.Tensor:
    """Area-average ``[B,2,H,W]`` flow by an integer ``factor`` and divide its values by it."""
    if factor == 1:
        return flow
    return F.avg_pool2d(flow, factor, factor) / factor
