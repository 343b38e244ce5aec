"""Epipolar helpers the run needs in NumPy (no kernel of their own): F of a pose, Sampson distance."""
from __future__ import annotations

import numpy as np

from .se3 import skew


def fundamental_from_pose(K: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``F [3,3]`` with ``x2^T F x1 = 0`` for the motion ``X_2 = R X_1 + t``."""
    Kinv = np.linalg.inv(K)
    return Kinv.T @ skew(t) @ R @ Kinv


def sampson_distance(F: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """First-order geometric error in pixels.

    Args:
        F: ``[B,3,3]`` or ``[B,H,3,3]`` (H hypotheses per batch item).
        p1, p2: ``[B,N,2]``.
    Returns:
        ``[B,N]`` or ``[B,H,N]`` distances (square root of the Sampson error).
    """
    x1 = np.concatenate([p1, np.ones(p1.shape[:-1] + (1,))], -1)
    x2 = np.concatenate([p2, np.ones(p2.shape[:-1] + (1,))], -1)
    if F.ndim == 4:
        x1 = x1[:, None]
        x2 = x2[:, None]
    Fx1 = x1 @ np.swapaxes(F, -1, -2)  # rows: (F x1)^T
    Ftx2 = x2 @ F  # rows: (F^T x2)^T
    num = np.sum(x2 * Fx1, -1) ** 2
    den = Fx1[..., 0] ** 2 + Fx1[..., 1] ** 2 + Ftx2[..., 0] ** 2 + Ftx2[..., 1] ** 2
    return np.sqrt(num / np.maximum(den, 1e-30))
