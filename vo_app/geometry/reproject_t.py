"""Depth reprojection and map sampling, differentiable torch (the depth training stage and its losses).

Conventions: depth maps ``[B,1,H,W]`` z-depth; ``K [B,3,3]``; the motion maps camera-1 points
into camera 2, ``X_2 = R X_1 + t``; pixel (0, 0) is the centre of the top-left pixel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .warp import pixel_grid_t


def backproject_t(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-frame points ``[B,3,H*W]`` of every pixel of ``depth [B,1,H,W]``."""
    b, _, h, w = depth.shape
    g = pixel_grid_t(h, w, depth.device, depth.dtype).reshape(1, 2, -1)
    x = torch.cat([g, torch.ones_like(g[:, :1])], 1).expand(b, -1, -1)
    rays = torch.linalg.inv(K.to(depth.dtype)) @ x
    return rays * depth.reshape(b, 1, -1)


def reproject_depth_t(depth1: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
                      eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each pixel of frame 1 lands in frame 2, and its depth there.

    Args: ``depth1 [B,1,H,W]``, ``K, R [B,3,3]``, ``t [B,3]``.
    Returns: ``coords2 [B,2,H,W]`` pixels (x, y) and ``depth2 [B,1,H,W]`` (z in camera 2; the
    coordinates of points with z <= eps are meaningless and should be masked by the caller).
    """
    b, _, h, w = depth1.shape
    dt = depth1.dtype
    X = backproject_t(depth1, K)
    X2 = R.to(dt) @ X + t.to(dt).reshape(b, 3, 1)
    z = X2[:, 2:3]
    uv = (K.to(dt) @ X2)[:, :2] / z.clamp_min(eps)
    return uv.reshape(b, 2, h, w), z.reshape(b, 1, h, w)


def sample_map_t(x: torch.Tensor, coords: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Bilinear samples of ``x [B,C,H,W]`` at pixel ``coords [B,2,h,w]`` -> ``[B,C,h,w]``."""
    h, w = x.shape[-2:]
    gx = coords[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = coords[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], -1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def sample_points_t(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``x [B,1,H,W]`` at points ``p [B,N,2]`` (pixels) -> ``[B,N]``."""
    return sample_map_t(x, p.to(x.dtype).transpose(1, 2).unsqueeze(-1))[:, 0, :, 0]


def inside_t(coords: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``[B,1,H,W]`` float: 1 where ``coords [B,2,H,W]`` lies in the pixel-centre rectangle."""
    x, y = coords[:, 0], coords[:, 1]
    ok = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1) & torch.isfinite(x) & torch.isfinite(y)
    return ok.unsqueeze(1).to(coords.dtype)


def splat_count_t(coords: torch.Tensor, h: int, w: int, weight: torch.Tensor | None = None) -> torch.Tensor:
    """How many source pixels land on each target pixel: bilinear splat of ones at
    ``coords [B,2,H',W']`` into a ``[B,1,h,w]`` map (no gradient)."""
    with torch.no_grad():
        b = coords.shape[0]
        x, y = coords[:, 0].reshape(b, -1).float(), coords[:, 1].reshape(b, -1).float()
        wsrc = torch.ones_like(x) if weight is None else weight.reshape(b, -1).float()
        x0, y0 = torch.floor(x), torch.floor(y)
        acc = torch.zeros(b, h * w + 1, device=coords.device)
        for dx in (0.0, 1.0):
            for dy in (0.0, 1.0):
                xi, yi = x0 + dx, y0 + dy
                wt = (1.0 - (x - xi).abs()) * (1.0 - (y - yi).abs()) * wsrc
                ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h) & torch.isfinite(wt)
                idx = torch.where(ok, yi * w + xi, torch.full_like(xi, h * w)).long()
                acc.scatter_add_(1, idx, torch.where(ok, wt, torch.zeros_like(wt)))
        return acc[:, :-1].reshape(b, 1, h, w)


def epipolar_distance_t(flow: torch.Tensor, fmat: torch.Tensor) -> torch.Tensor:
    """Distance of ``p + flow(p)`` to the epipolar line ``F p`` for ``flow [B,2,H,W]``, ``fmat [B,3,3]``:
    ``[B,1,H,W]`` pixels, differentiable in ``flow`` (the NumPy reference is
    :func:`vo_app.geometry._reference.inlier_map.epipolar_distance_map`)."""
    b, _, h, w = flow.shape
    g = pixel_grid_t(h, w, flow.device, flow.dtype).reshape(1, 2, -1)
    x1 = torch.cat([g, torch.ones_like(g[:, :1])], 1).expand(b, -1, -1)
    x2 = torch.cat([g + flow.reshape(b, 2, -1), torch.ones_like(g[:, :1]).expand(b, -1, -1)], 1)
    line = fmat.to(flow.dtype) @ x1
    d = (x2 * line).sum(1).abs() / torch.hypot(line[:, 0], line[:, 1]).clamp_min(1e-12)
    return d.reshape(b, 1, h, w)
