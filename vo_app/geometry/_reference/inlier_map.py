"""Inlier score map M_r from the epipolar distance of every dense flow match."""
from __future__ import annotations

import numpy as np

from ..flow_sample import pixel_grid


def epipolar_distance_map(F: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Distance (pixels) of ``p + flow(p)`` to the epipolar line ``F p``, for every pixel: ``[H,W]``."""
    h, w = flow.shape[:2]
    g = pixel_grid(h, w).reshape(-1, 2).astype(np.float64)
    x1 = np.concatenate([g, np.ones((g.shape[0], 1))], 1)
    x2 = np.concatenate([g + flow.reshape(-1, 2), np.ones((g.shape[0], 1))], 1)
    l2 = x1 @ F.T
    d = np.abs(np.sum(x2 * l2, 1)) / np.maximum(np.hypot(l2[:, 0], l2[:, 1]), 1e-30)
    return d.reshape(h, w).astype(np.float32)


def inlier_score_map(d_epi: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """``M_r = (D_epi < threshold) / (1 + D_epi)`` (TrianFlow uses threshold 0.5 px)."""
    return ((d_epi < threshold) / (1.0 + d_epi)).astype(np.float32)
