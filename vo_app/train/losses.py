"""Flow losses: supervised multi-scale end-point error, and the self-supervised loss of TrianFlow.

Self-supervised loss (supplementary Eq. 9), per direction and scale::

    L_f = (1 - alpha) * |I_a - I_b|_1 + alpha / 2 * (1 - SSIM(I_a, I_b)) + beta * L_fs

with ``I_b`` frame 2 backward-warped into frame 1 by the forward flow, the photometric terms
averaged over non-occluded pixels (M_o from the backward flow, see
:func:`vo_app.geometry.warp.occlusion_from_backward`), and ``L_fs`` the edge-aware
second-order flow smoothness.  alpha = 0.85, beta = 0.1, three scales.

Tensors: images ``[B,C,H,W]`` in [0,1], flows ``[B,2,H,W]`` in pixels of their own resolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..geometry.warp import backward_warp, downsample_flow, occlusion_from_backward

_C1, _C2 = 0.01 ** 2, 0.03 ** 2


def ssim_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(1 - SSIM) / 2`` in [0, 1] per pixel and channel, 3x3 mean windows (reflect padding)."""
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    y = F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x, mu_y = F.avg_pool2d(x, 3, 1), F.avg_pool2d(y, 3, 1)
    var_x = F.avg_pool2d(x * x, 3, 1) - mu_x ** 2
    var_y = F.avg_pool2d(y * y, 3, 1) - mu_y ** 2
    cov = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    num = (2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
    den = (mu_x ** 2 + mu_y ** 2 + _C1) * (var_x + var_y + _C2)
    return ((1 - num / den) / 2).clamp(0, 1)


def photometric_error(a: torch.Tensor, b: torch.Tensor, alpha: float = 0.85) -> torch.Tensor:
    """``(1 - alpha) |a - b| + alpha/2 (1 - SSIM(a, b))``, channel-averaged: ``[B,1,H,W]``.

    (``ssim_distance`` already holds the factor 1/2.)
    """
    l1 = (a - b).abs().mean(1, keepdim=True)
    ss = ssim_distance(a, b).mean(1, keepdim=True)
    return (1 - alpha) * l1 + alpha * ss


def masked_mean(err: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``sum(err * mask) / sum(mask)`` over everything (``mask`` broadcast to ``err``)."""
    mask = mask.expand_as(err)
    return (err * mask).sum() / (mask.sum() + eps)


def smoothness_2nd(flow: torch.Tensor, image: torch.Tensor, edge_weight: float = 10.0) -> torch.Tensor:
    """Edge-aware second-order smoothness: ``mean |d2F/dx2| e^{-k|dI/dx|} + |d2F/dy2| e^{-k|dI/dy|}``."""
    gray = image.mean(1, keepdim=True)
    ix = (gray[..., :, 2:] - gray[..., :, :-2]).abs() / 2  # centred gradient at the centre pixel
    iy = (gray[..., 2:, :] - gray[..., :-2, :]).abs() / 2
    fxx = (flow[..., :, 2:] - 2 * flow[..., :, 1:-1] + flow[..., :, :-2]).abs()
    fyy = (flow[..., 2:, :] - 2 * flow[..., 1:-1, :] + flow[..., :-2, :]).abs()
    return (fxx * torch.exp(-edge_weight * ix)).mean() + (fyy * torch.exp(-edge_weight * iy)).mean()


def epe_map(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """End-point error ``|pred - gt|_2`` per pixel: ``[B,2,H,W]`` x2 -> ``[B,H,W]``."""
    return torch.linalg.vector_norm(pred - gt, dim=1)


def supervised_loss(flows: list[torch.Tensor], gt: torch.Tensor, weights: list[float],
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted sum over levels of the mean EPE, each in full-resolution pixels.

    Args:
        flows: per-level flows (coarse to fine) from :class:`~vo_app.models.pwc.PWCNet`, level
            ``l`` in pixels of ``[H/2**l, W/2**l]``.
        gt: ``[B,2,H,W]`` ground-truth flow in input pixels.
        weights: one weight per entry of ``flows``.
        mask: optional ``[B,1,H,W]`` 1 where ``gt`` may be used; area-averaged to each level.
    """
    h = gt.shape[-2]
    total = gt.new_zeros(())
    for w, f in zip(weights, flows):
        factor = h // f.shape[-2]
        err = epe_map(f * factor, downsample_flow(gt, factor) * factor).unsqueeze(1)
        if mask is None:
            total = total + w * err.mean()
        else:
            m = F.avg_pool2d(mask, factor) if factor > 1 else mask
            total = total + w * masked_mean(err, (m > 0.99).to(err.dtype))
    return total


def photometric_direction(img1, img2, flow_fwd, flow_bwd, alpha=0.85, edge_weight=10.0) -> dict:
    """The terms of Eq. 9 for one direction and one scale (images and flows of the same size).

    Returns ``{"photo": scalar, "smooth": scalar, "occ": [B,1,H,W]}``; the caller weights ``smooth`` by beta.
    """
    warped, inside = backward_warp(img2, flow_fwd, padding="border")
    occ = occlusion_from_backward(flow_bwd) * inside
    photo = masked_mean(photometric_error(img1, warped, alpha), occ)
    smooth = smoothness_2nd(flow_fwd, img1, edge_weight)
    return {"photo": photo, "smooth": smooth, "occ": occ}


def selfsup_loss(img1: torch.Tensor, img2: torch.Tensor, flows_fwd: list[torch.Tensor], flows_bwd: list[torch.Tensor],
                 *, alpha: float = 0.85, beta: float = 0.1, edge_weight: float = 10.0, n_scales: int = 3) -> dict:
    """Occlusion-masked photometric + smoothness loss on the ``n_scales`` finest flows, both directions.

    ``flows_fwd``/``flows_bwd`` are the network's per-level lists (coarse to fine); images are
    area-downsampled to each flow's resolution.  Returns ``{"loss", "photo", "smooth"}``.
    """
    h = img1.shape[-2]
    photo = img1.new_zeros(())
    smooth = img1.new_zeros(())
    for ff, fb in list(zip(flows_fwd, flows_bwd))[-n_scales:]:
        factor = h // ff.shape[-2]
        a = F.avg_pool2d(img1, factor) if factor > 1 else img1
        b = F.avg_pool2d(img2, factor) if factor > 1 else img2
        for x, y, f, g in ((a, b, ff, fb), (b, a, fb, ff)):
            r = photometric_direction(x, y, f, g, alpha, edge_weight)
            photo = photo + r["photo"]
            smooth = smooth + r["smooth"]
    photo, smooth = photo / n_scales, smooth / n_scales
    return {"loss": photo + beta * smooth, "photo": photo, "smooth": smooth}
