"""Direct photometric pose refinement against the reference frame's depth (Gauss-Newton image alignment).

DDVO ("Learning Depth from Monocular Videos using Direct Methods") aligns the second image to
the first through the first frame's depth by Gauss-Newton on the photometric error; here it
refines a pose from PnP (``geometry/pnp.py``) where F gives none (``pipeline/odometry.py``).

For the pixels ``p`` of frame 1 with depth ``d(p)`` and a strong image gradient::

    X = d(p) K^-1 [p, 1],   r(p) = I2(pi(K (R X + t))) - I1(p)

Gauss-Newton on ``sum w(r) r^2`` (Huber weights, scale from the residuals' MAD) over a left
perturbation ``T <- exp(xi) T``, ``xi = (v, w)``: ``dX' = v + w x X'``; coarse to fine over an
image pyramid.  Images are float gray ``[H,W]``; depth ``[H,W]`` metric (<= 0 or NaN: unknown).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .se3 import so3_exp


@dataclass
class DirectResult:
    """``T [4,4]`` (``X_2 = R X_1 + t``), the final robust RMS residual, the points used at the finest level
    and the iterations run (all levels)."""

    T: np.ndarray
    rms: float
    n_points: int
    iterations: int


def _level(gray1, gray2, depth, K, s):
    """Images and depth reduced by ``2**s`` (area for images, nearest for depth) and the matching K."""
    if s == 0:
        return gray1, gray2, depth, K
    f = 2 ** s
    h, w = gray1.shape[0] // f, gray1.shape[1] // f
    g1 = cv2.resize(gray1, (w, h), interpolation=cv2.INTER_AREA)
    g2 = cv2.resize(gray2, (w, h), interpolation=cv2.INTER_AREA)
    d = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)
    Ks = K.copy()
    Ks[0, 0], Ks[1, 1] = K[0, 0] / f, K[1, 1] / f
    Ks[0, 2], Ks[1, 2] = (K[0, 2] + 0.5) / f - 0.5, (K[1, 2] + 0.5) / f - 0.5
    return g1, g2, d, Ks


def _points(g1, d, K, max_points, grad_quantile):
    """Pixels with known depth and a gradient above the ``grad_quantile`` of those: ``(X [N,3], I1 [N])``."""
    gx = cv2.Sobel(g1, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g1, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    mag = np.hypot(gx, gy)
    h, w = g1.shape
    border = np.zeros_like(mag, bool)
    border[2:-2, 2:-2] = True
    ok = border & np.isfinite(d) & (d > 0)
    if not ok.any():
        return np.zeros((0, 3)), np.zeros(0)
    thr = np.quantile(mag[ok], grad_quantile)
    ys, xs = np.nonzero(ok & (mag >= thr))
    if len(xs) > max_points:
        keep = np.linspace(0, len(xs) - 1, max_points).astype(np.int64)
        ys, xs = ys[keep], xs[keep]
    z = d[ys, xs].astype(np.float64)
    X = np.stack([(xs - K[0, 2]) / K[0, 0] * z, (ys - K[1, 2]) / K[1, 1] * z, z], 1)
    return X, g1[ys, xs].astype(np.float64)


def refine_direct(gray1: np.ndarray, gray2: np.ndarray, depth1: np.ndarray, K: np.ndarray, T_init: np.ndarray, *,
                  levels: int = 3, iterations: int = 15, max_points: int = 20000, grad_quantile: float = 0.5,
                  huber: float = 1.345) -> DirectResult:
    """Refine ``T_init [4,4]`` (camera 1 -> camera 2) by photometric Gauss-Newton through ``depth1``."""
    g1 = np.asarray(gray1, np.float32)
    g2 = np.asarray(gray2, np.float32)
    depth1 = np.asarray(depth1, np.float32)
    if g1.ndim != 2 or g1.shape != g2.shape or depth1.shape != g1.shape:
        raise ValueError(f"expected gray images and depth of one size [H,W], got {g1.shape}, {g2.shape}, {depth1.shape}")
    K = np.asarray(K, np.float64)
    T = np.asarray(T_init, np.float64).copy()
    rms, n_pts, n_it = float("nan"), 0, 0
    for s in reversed(range(levels)):
        a, b, d, Ks = _level(g1, g2, depth1, K, s)
        X, ref = _points(a, d, Ks, max_points, grad_quantile)
        n_pts = len(X)
        if n_pts < 6:
            continue
        gx = cv2.Sobel(b, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(b, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        h, w = b.shape
        fx, fy, cx, cy = Ks[0, 0], Ks[1, 1], Ks[0, 2], Ks[1, 2]
        for _ in range(iterations):
            n_it += 1
            Y = X @ T[:3, :3].T + T[:3, 3]
            z = Y[:, 2]
            front = z > 1e-6
            zs = np.where(front, z, 1.0)
            u = fx * Y[:, 0] / zs + cx
            v = fy * Y[:, 1] / zs + cy
            inside = front & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
            if inside.sum() < 6:
                break
            uu, vv = u[inside].astype(np.float32), v[inside].astype(np.float32)
            samp = [cv2.remap(img, uu, vv, cv2.INTER_LINEAR).ravel().astype(np.float64) for img in (b, gx, gy)]
            r = samp[0] - ref[inside]
            Yi, zi = Y[inside], zs[inside]
            # d(u,v)/dY, then dY/dxi = [I | -[Y]x]
            du = np.stack([fx / zi, np.zeros_like(zi), -fx * Yi[:, 0] / zi ** 2], 1)
            dv = np.stack([np.zeros_like(zi), fy / zi, -fy * Yi[:, 1] / zi ** 2], 1)
            g = samp[1][:, None] * du + samp[2][:, None] * dv  # dI/dY [M,3]
            J = np.concatenate([g, np.cross(Yi, g)], 1)  # d/dw of g.(w x Y) = Y x g
            sigma = 1.4826 * np.median(np.abs(r)) + 1e-9
            k = huber * sigma
            wgt = np.where(np.abs(r) <= k, 1.0, k / np.maximum(np.abs(r), 1e-12))
            H = J.T @ (J * wgt[:, None])
            rhs = J.T @ (wgt * r)
            try:
                xi = -np.linalg.solve(H + 1e-9 * np.trace(H) * np.eye(6), rhs)
            except np.linalg.LinAlgError:
                break
            if not np.isfinite(xi).all():
                break
            dT = np.eye(4)
            dT[:3, :3], dT[:3, 3] = so3_exp(xi[3:]), xi[:3]
            T = dT @ T
            rms = float(np.sqrt(np.mean(wgt * r ** 2)))
            if np.linalg.norm(xi) < 1e-8:
                break
    return DirectResult(T, rms, n_pts, n_it)
