"""Rotation-only motion model: detects pure rotation (or too little parallax) between two views."""
from __future__ import annotations

import numpy as np

from .triangulation import pixel_rays


def fit_rotation(p1: np.ndarray, p2: np.ndarray, K: np.ndarray, iters: int = 3, huber: float = 1.0):
    """Robust Kabsch fit of ``R`` with ``r2 ~ R r1`` for pixel matches ``p1, p2 [N,2]``.

    Returns ``R [3,3]`` and the residual ``|p2 - pi(K R K^-1 p1)|`` in pixels ``[N]``:
    the parallax left once rotation is compensated.
    """
    r1 = pixel_rays(p1, K)
    r2 = pixel_rays(p2, K)
    r1 /= np.linalg.norm(r1, axis=1, keepdims=True)
    r2 /= np.linalg.norm(r2, axis=1, keepdims=True)
    w = np.ones(len(p1))
    R = np.eye(3)
    res = np.zeros(len(p1))
    for _ in range(iters + 1):
        H = (r2 * w[:, None]).T @ r1
        U, _, Vt = np.linalg.svd(H)
        D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
        R = U @ D @ Vt
        q = (r1 @ R.T) @ K.T
        q = q[:, :2] / np.where(np.abs(q[:, 2:]) < 1e-12, 1e-12, q[:, 2:])
        res = np.linalg.norm(p2 - q, axis=1)
        w = np.where(res <= huber, 1.0, huber / np.maximum(res, 1e-12))
    return R, res
