"""Pose from F in one batched call, and differentiable mid-point triangulation (torch, any device).

The NumPy versions in ``_reference/essential.py`` / ``_reference/triangulation.py`` are the
reference these are tested against.  They are the CUDA (and autograd) path of the public
:func:`vo_app.geometry.pose_from_fundamental` and :func:`vo_app.geometry.triangulate_midpoint`.

Conventions: ``x2^T F x1 = 0``; the returned motion maps camera-1 points into camera 2,
``X_2 = R X_1 + t`` with ``|t| = 1``.
"""
from __future__ import annotations

import torch

from .triangulated import Triangulated

_W = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def pixel_rays_t(p: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``K^-1 [x, y, 1]`` for ``p [...,N,2]``, ``K [...,3,3]``: ``[...,N,3]`` with unit z."""
    x = torch.cat([p, torch.ones_like(p[..., :1])], -1)
    return x @ torch.linalg.inv(K).transpose(-1, -2)


def triangulate_midpoint_t(p1: torch.Tensor, p2: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
                           cos_threshold: float = 1e-3):
    """Mid-point triangulation of ``p1, p2 [...,N,2]`` with ``K, R [...,3,3]``, ``t [...,3]``.

    Returns a :class:`~vo_app.geometry.triangulated.Triangulated` of tensors (``points [...,N,3]`` in
    camera 1, ``depth1, depth2, valid, cos_angle, ray_cos [...,N]``); valid: rays not nearly parallel
    (the supplementary's cosine test) and in front of both cameras.  Differentiable; the public entry
    point is :func:`vo_app.geometry.triangulate_midpoint`, which calls this on CUDA or under autograd.
    """

    n1 = pixel_rays_t(p1, K)
    n2 = pixel_rays_t(p2, K) @ R  # rows R^T r2: ray 2 in camera-1 coordinates
    c2 = -(R.transpose(-1, -2) @ t[..., None])[..., 0][..., None, :]
    a11 = (n1 * n1).sum(-1)
    a22 = (n2 * n2).sum(-1)
    a12 = (n1 * n2).sum(-1)
    b1 = (n1 * c2).sum(-1)
    b2 = -(n2 * c2).sum(-1)
    det = a11 * a22 - a12**2
    det = torch.where(det.abs() < 1e-15, torch.full_like(det, 1e-15), det)
    lam1 = (a22 * b1 + a12 * b2) / det
    lam2 = (a12 * b1 + a11 * b2) / det
    X = 0.5 * (lam1[..., None] * n1 + c2 + lam2[..., None] * n2)
    n2u = n2 / n2.norm(dim=-1, keepdim=True)
    v = c2 + (-c2 * n2u).sum(-1, keepdim=True) * n2u
    cos = (v * n1).sum(-1) / (v.norm(dim=-1) * n1.norm(dim=-1)).clamp_min(1e-30)
    depth1 = X[..., 2]
    depth2 = (X @ R.transpose(-1, -2) + t[..., None, :])[..., 2]
    valid = (cos > cos_threshold) & (lam1 > 0) & (lam2 > 0) & (depth1 > 0) & (depth2 > 0) & torch.isfinite(depth1)
    return Triangulated(X, depth1, depth2, valid, cos, a12 / (a11.sqrt() * a22.sqrt()))


def pose_from_fundamental_t(F: torch.Tensor, K: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                            mask: torch.Tensor | None = None):
    """E = K^T F K, its four ``[R|t]``, and the cheirality vote, batched.

    Args:
        F, K: ``[B,3,3]``; p1, p2: ``[B,N,2]``; mask: ``[B,N]`` matches that vote (e.g. RANSAC inliers).
    Returns:
        ``R [B,3,3]``, ``t [B,3]`` (unit), ``n_front [B]``, ``n_front_all [B,4]``.
    """
    if F.ndim != 3 or F.shape[-2:] != (3, 3) or K.shape != F.shape or p1.shape != p2.shape or p1.shape[0] != F.shape[0]:
        raise ValueError(f"expected F, K [B,3,3] and p1, p2 [B,N,2]; got {tuple(F.shape)}, {tuple(K.shape)}, "
                         f"{tuple(p1.shape)}, {tuple(p2.shape)}")
    dt = torch.float64
    F, K, p1, p2 = F.to(dt), K.to(dt), p1.to(dt), p2.to(dt)
    E = K.transpose(-1, -2) @ F @ K
    U, _, Vh = torch.linalg.svd(E)
    U = U * torch.sign(torch.linalg.det(U))[:, None, None]
    Vh = Vh * torch.sign(torch.linalg.det(Vh))[:, None, None]
    W = _W.to(F.device)
    Ra, Rb = U @ W @ Vh, U @ W.T @ Vh
    u3 = U[..., :, 2]
    Rc = torch.stack([Ra, Ra, Rb, Rb], 1)  # [B,4,3,3]
    tc = torch.stack([u3, -u3, u3, -u3], 1)  # [B,4,3]
    B = F.shape[0]
    valid = triangulate_midpoint_t(p1[:, None], p2[:, None], K[:, None], Rc, tc).valid
    if mask is not None:
        valid = valid & mask[:, None].bool()
    counts = valid.sum(-1)  # [B,4]
    best = counts.argmax(-1)
    ar = torch.arange(B, device=F.device)
    return Rc[ar, best], tc[ar, best], counts[ar, best], counts
