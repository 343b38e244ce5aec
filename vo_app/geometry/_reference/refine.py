"""Reference (test oracle) of the pose refinement kernel (``csrc/cpu/refine.cpp``): non-linear refinement of a relative pose on its inlier matches (robust Gauss-Newton).

Minimises the signed Sampson residuals (pixels) of ``F = K^-T [t]x R K^-1`` over
the 5 degrees of freedom of an essential matrix (rotation: 3, translation
direction: 2), with Huber weights (IRLS).
"""
from __future__ import annotations

import numpy as np

from ..epipolar import fundamental_from_pose
from ..se3 import so3_exp


def signed_sampson(F: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Signed Sampson residuals ``[N]`` for homogeneous ``x1, x2 [N,3]``."""
    Fx1 = x1 @ F.T
    Ftx2 = x2 @ F
    num = np.sum(x2 * Fx1, -1)
    den = Fx1[:, 0] ** 2 + Fx1[:, 1] ** 2 + Ftx2[:, 0] ** 2 + Ftx2[:, 1] ** 2
    return num / np.sqrt(np.maximum(den, 1e-30))


def _tangent_basis(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1.0, 0.0, 0.0]) if abs(t[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    b1 = np.cross(t, a)
    b1 /= np.linalg.norm(b1)
    return b1, np.cross(t, b1)


def refine_pose(
    p1: np.ndarray,
    p2: np.ndarray,
    K: np.ndarray,
    R: np.ndarray,
    t: np.ndarray,
    *,
    huber: float = 0.5,
    iters: int = 10,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Refine ``(R, t)`` on matches ``p1, p2 [N,2]``; returns ``R, t (unit), rms residual``.

    The caller passes the matches it trusts (the RANSAC inliers, or those within a
    looser band); Huber weights limit the pull of the remaining outliers.
    """
    x1 = np.concatenate([p1, np.ones((len(p1), 1))], 1)
    x2 = np.concatenate([p2, np.ones((len(p2), 1))], 1)
    R = R.copy()
    t = t / np.linalg.norm(t)

    def residuals(R_, t_):
        return signed_sampson(fundamental_from_pose(K, R_, t_), x1, x2)

    def retract(R_, t_, d):
        Rn = R_ @ so3_exp(d[:3])
        b1, b2 = _tangent_basis(t_)
        tn = t_ + d[3] * b1 + d[4] * b2
        return Rn, tn / np.linalg.norm(tn)

    r = residuals(R, t)
    cost = None
    eps = 1e-6
    for _ in range(iters):
        a = np.abs(r)
        w = np.where(a <= huber, 1.0, huber / np.maximum(a, 1e-12))
        cost = float(np.sum(w * r * r))
        J = np.empty((len(r), 5))
        for k in range(5):
            d = np.zeros(5)
            d[k] = eps
            J[:, k] = (residuals(*retract(R, t, d)) - residuals(*retract(R, t, -d))) / (2 * eps)
        H = J.T @ (J * w[:, None]) + 1e-9 * np.eye(5)
        g = J.T @ (w * r)
        step = -np.linalg.solve(H, g)
        Rn, tn = retract(R, t, step)
        rn = residuals(Rn, tn)
        an = np.abs(rn)
        wn = np.where(an <= huber, 1.0, huber / np.maximum(an, 1e-12))
        if float(np.sum(wn * rn * rn)) > cost:
            break
        R, t, r = Rn, tn, rn
        if np.linalg.norm(step) < 1e-10:
            break
    return R, t, float(np.sqrt(np.mean(r**2))) if len(r) else float("nan")
