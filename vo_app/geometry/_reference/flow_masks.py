"""Reference (test oracle) of the match score: occlusion mask M_o, forward-backward distance D_fb
and M_o * M_s from dense flow, in NumPy.

Flows are ``[H,W,2]`` float32 in pixels, ``(dx, dy)``; frame 1 -> frame 2 is "forward".  The
public API is :func:`vo_app.geometry.match_score` (the C++ kernel on the CPU, torch on CUDA).
"""
from __future__ import annotations

import numpy as np

from ..flow_sample import pixel_grid, sample_flow


def occlusion_mask(flow_bwd: np.ndarray) -> np.ndarray:
    """M_o of frame 1: forward-splat a field of ones along the backward flow, clamp to [0,1].

    Pixels of frame 1 that no pixel of frame 2 lands on are occluded in frame 2.
    Returns ``[H,W]`` float32.
    """
    h, w = flow_bwd.shape[:2]
    tgt = pixel_grid(h, w) + flow_bwd
    x, y = tgt[..., 0].ravel(), tgt[..., 1].ravel()
    x0, y0 = np.floor(x), np.floor(y)
    acc = np.zeros(h * w + 1, np.float64)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1.0 - np.abs(x - xi)) * (1.0 - np.abs(y - yi))
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h) & np.isfinite(wgt)
            idx = np.where(inside, yi * w + xi, h * w).astype(np.int64)
            acc += np.bincount(idx, weights=np.where(inside, wgt, 0.0), minlength=h * w + 1)
    return np.clip(acc[:-1].reshape(h, w), 0.0, 1.0).astype(np.float32)


def forward_backward(flow_fwd: np.ndarray, flow_bwd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-backward distance D_fb ``[H,W]`` and in-image mask ``[H,W]`` (target inside frame 2)."""
    h, w = flow_fwd.shape[:2]
    tgt = pixel_grid(h, w) + flow_fwd
    back = sample_flow(flow_bwd, tgt)
    d = np.linalg.norm(flow_fwd + back, axis=-1)
    inside = (tgt[..., 0] >= 0) & (tgt[..., 0] <= w - 1) & (tgt[..., 1] >= 0) & (tgt[..., 1] <= h - 1)
    return d.astype(np.float32), inside


def match_score(flow_fwd: np.ndarray, flow_bwd: np.ndarray) -> dict[str, np.ndarray]:
    """The sampling score of TrianFlow: ``M_o * M_s`` with ``M_s = 1/(0.1 + D_fb)``, 0 outside.

    Returns a dict with ``occ`` (M_o), ``fb`` (D_fb), ``fb_score`` (M_s, zero where the
    target leaves the image) and ``score`` (M_o * M_s); all ``[H,W]`` float32.
    """
    occ = occlusion_mask(flow_bwd)
    fb, inside = forward_backward(flow_fwd, flow_bwd)
    ms = np.where(inside & np.isfinite(fb), 1.0 / (0.1 + fb), 0.0).astype(np.float32)
    return {"occ": occ, "fb": fb, "fb_score": ms, "score": (occ * ms).astype(np.float32)}
