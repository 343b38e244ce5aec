"""Mid-point triangulation (TrianFlow supplementary, section B), float64.

Camera 1 is the reference (identity extrinsic); camera 2 has extrinsic
``[R | t]``, i.e. ``X_2 = R X_1 + t``.  The reference (test oracle) of the C++ kernel
(``csrc/cpu/triangulate.cpp``) and of the torch version (``pose_torch.py``); the public API is
:func:`vo_app.geometry.triangulate_midpoint`.
"""
from __future__ import annotations

import numpy as np

from ..triangulated import Triangulated


def pixel_rays(p: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Back-project pixels ``p [...,N,2]`` to rays ``K^-1 [x, y, 1]`` with unit z: ``[...,N,3]``."""
    Kinv = np.linalg.inv(K)
    x = np.concatenate([p, np.ones(p.shape[:-1] + (1,))], -1)
    return x @ np.swapaxes(Kinv, -1, -2)


def triangulate_midpoint(
    p1: np.ndarray, p2: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, cos_threshold: float = 1e-3
) -> Triangulated:
    """Triangulate matches ``p1 [...,N,2]``/``p2 [...,N,2]`` with ``K [...,3,3]``, ``R [...,3,3]``, ``t [...,3]``."""
    R = np.asarray(R, np.float64)
    t = np.asarray(t, np.float64)
    Rt = np.swapaxes(R, -1, -2)
    n1 = pixel_rays(p1, K)
    n2 = pixel_rays(p2, K) @ R  # rows: R^T r2 (ray 2 in camera-1 coordinates)
    c2 = -np.einsum("...ij,...j->...i", Rt, t)[..., None, :]  # [...,1,3]
    a11 = np.sum(n1 * n1, -1)
    a22 = np.sum(n2 * n2, -1)
    a12 = np.sum(n1 * n2, -1)
    b1 = np.sum(n1 * c2, -1)  # n1 . (c2 - c1), c1 = 0
    b2 = -np.sum(n2 * c2, -1)  # n2 . (c1 - c2)
    det = a11 * a22 - a12**2
    safe = np.where(np.abs(det) < 1e-15, 1e-15, det)
    lam1 = (a22 * b1 + a12 * b2) / safe
    lam2 = (a12 * b1 + a11 * b2) / safe
    X = 0.5 * (lam1[..., None] * n1 + c2 + lam2[..., None] * n2)
    # Cosine test: v is the perpendicular from c1 to ray 2; compare it with ray 1.
    n2u = n2 / np.linalg.norm(n2, axis=-1, keepdims=True)
    v = c2 + np.sum(-c2 * n2u, -1, keepdims=True) * n2u
    cos = np.sum(v * n1, -1) / np.maximum(np.linalg.norm(v, axis=-1) * np.linalg.norm(n1, axis=-1), 1e-30)
    depth1 = X[..., 2]
    X2 = X @ Rt + t[..., None, :]
    depth2 = X2[..., 2]
    valid = (cos > cos_threshold) & (lam1 > 0) & (lam2 > 0) & (depth1 > 0) & (depth2 > 0) & np.isfinite(depth1)
    ray_cos = a12 / (np.sqrt(a11) * np.sqrt(a22))  # = the cosine of the parallax angle between the two rays
    return Triangulated(X, depth1, depth2, valid, cos, ray_cos)
