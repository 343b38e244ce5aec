"""Scale alignment of predicted depth to triangulated depth (torch, differentiable).

Triangulated depths from a unit-norm translation have an arbitrary scale; predicted depth has a
learnt one.  TrianFlow aligns the prediction to the triangulation before comparing them: a
median ratio (no gradient) brings them close, then the closed-form scale ``a`` minimising
``sum (1 - a p / d)^2`` (``p`` prediction, ``d`` triangulated depth) finishes the fit.  The
result ``s`` maps the prediction into triangulation units: ``aligned = s * pred``.  Used by
the depth losses (``vo_app/train/depth_losses.py``); ``vo-run`` has no depth scale yet.
"""
from __future__ import annotations

import torch


def masked_median(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Median over the last dim of ``x [B,N]`` where ``mask [B,N]``; NaN for an empty row."""
    return torch.nanmedian(torch.where(mask, x, torch.full_like(x, float("nan"))), dim=-1).values


def align_scale_t(pred: torch.Tensor, tri: torch.Tensor, valid: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale ``s [B]`` with ``s * pred ~ tri`` from samples ``pred, tri [B,N]`` where ``valid [B,N]``.

    ``s = a / m`` with ``m = median(pred) / median(tri)`` (detached) and ``a`` the least-squares
    minimiser of ``sum (1 - a (pred / m) / tri)^2`` (differentiable in ``pred``).  Rows with no
    valid sample give NaN.
    """
    if pred.shape != tri.shape or valid.shape != pred.shape or pred.ndim != 2:
        raise ValueError(f"expected pred, tri, valid [B,N], got {tuple(pred.shape)}, {tuple(tri.shape)}, "
                         f"{tuple(valid.shape)}")
    valid = valid & torch.isfinite(pred) & torch.isfinite(tri) & (tri > 0) & (pred > 0)
    m = (masked_median(pred.detach(), valid) / masked_median(tri.detach(), valid))
    safe_tri = torch.where(valid, tri, torch.ones_like(tri))
    r = torch.where(valid, pred / (m[:, None] * safe_tri + eps), torch.zeros_like(pred))
    a = r.sum(-1) / ((r * r).sum(-1) + eps)
    return a / m
