"""Rotation-only motion model: detects pure rotation (or too little parallax) between two views."""
from __future__ import annotations

import numpy as np


def fit_rotation(p1: np.ndarray, p2: np.ndarray, K: np.ndarray, iters: int = 3, huber: float = 1.0):
    """Robust Kabsch fit of ``R`` with ``r2 ~ R r1`` for pixel matches ``p1, p2 [N,2]``.

    Returns ``R [3,3]`` and the residual ``|p2 - pi(K R K^-1 p1)|`` in pixels ``[N]``:
    the parallax left once rotation is compensated.
    """
    p1 = np.asarray(p1, np.float64)
    p2 = np.asarray(p2, np.float64)
    Kinv = np.linalg.inv(K)
    r1 = p1 @ Kinv[:, :2].T + Kinv[:, 2]  # pixel_rays, without the [N,3] homogeneous copy
    r2 = p2 @ Kinv[:, :2].T + Kinv[:, 2]
    r1 /= np.sqrt(np.einsum("ij,ij->i", r1, r1))[:, None]
    r2 /= np.sqrt(np.einsum("ij,ij->i", r2, r2))[:, None]
    x2, y2 = p2[:, 0], p2[:, 1]
    w = np.ones(len(p1))
    R = np.eye(3)
    res = np.zeros(len(p1))
    for _ in range(iters + 1):
        H = (r2 * w[:, None]).T @ r1
        U, _, Vt = np.linalg.svd(H)
        D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
        R = U @ D @ Vt
        q = r1 @ (K @ R).T  # K R r1, one product
        z = np.where(np.abs(q[:, 2]) < 1e-12, 1e-12, q[:, 2])
        dx, dy = q[:, 0] / z - x2, q[:, 1] / z - y2  # columns: no reductions over a last axis of 2
        res = np.sqrt(dx * dx + dy * dy)
        w = np.where(res <= huber, 1.0, huber / np.maximum(res, 1e-12))
    return R, res
