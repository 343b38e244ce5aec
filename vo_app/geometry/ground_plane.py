"""The road plane under a driving camera, from triangulated points: an absolute scale cue.

A camera mounted at a known height ``h`` above a flat road sees the road as the plane
``n . X = d`` (camera coordinates, y pointing down, ``n`` close to ``+y``).  Triangulated at
unit baseline, the points give the plane at distance ``d``; the pair's translation norm is then
``h / d``.  :func:`fit_ground_plane` finds the plane with a seeded RANSAC over points of the
lower central image, accepts only a plane whose normal is within ``max_tilt_deg`` of the
camera's down axis, and refits it by least squares on its inliers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scale import weighted_median


@dataclass
class GroundPlane:
    """``normal [3]`` (unit, pointing down, away from the camera), ``distance`` of the camera centre
    to the plane (same units as the points), ``n_inliers`` of ``n_candidates`` lower-image points."""

    normal: np.ndarray
    distance: float
    n_inliers: int
    n_candidates: int


def ground_candidates(pixels: np.ndarray, K: np.ndarray, size: tuple[int, int], below: float = 0.08,
                      half_width: float = 0.3) -> np.ndarray:
    """``[N]`` bool: pixels ``[N,2]`` of the road region, at least ``below * H`` rows under the principal
    point and within ``half_width * W`` of it horizontally (``size = (W, H)``)."""
    w, h = size
    cx, cy = K[0, 2], K[1, 2]
    return (pixels[:, 1] > cy + below * h) & (np.abs(pixels[:, 0] - cx) < half_width * w)


def fit_ground_plane(points: np.ndarray, weights: np.ndarray | None = None, *, seed: int = 0, iters: int = 200,
                     rel_tol: float = 0.02, max_tilt_deg: float = 15.0, min_points: int = 50,
                     min_share: float = 0.1, band: float = 0.1) -> GroundPlane | None:
    """Fit the road plane to candidate points ``[N,3]`` (camera coordinates, y down).

    RANSAC on 3-point planes whose normal is within ``max_tilt_deg`` of ``+y``; a point is an
    inlier when its distance to the plane is below ``rel_tol`` times the plane's distance to the
    camera (the points' scale is unknown).  The best plane is refitted on its inliers (smallest
    principal axis).  None when fewer than ``min_points`` candidates or inliers, when the inliers
    are fewer than ``min_share`` of the candidates, or when no plane is flat enough.

    The distance is then measured in inverse depth, where triangulation noise is close to
    symmetric (in depth it is skewed towards far, which biases a mean distance, and so the scale,
    low): each point within ``band`` (relative) of the plane gives ``1 / (n . X)``, and the
    distance is the inverse of their median, weighted by ``weights`` (e.g. parallax^2; default 1).
    """
    X = np.asarray(points, np.float64)
    keep = np.isfinite(X).all(1)
    X = X[keep]
    w = np.ones(len(X)) if weights is None else np.asarray(weights, np.float64)[keep]
    n = len(X)
    if n < max(min_points, 3):
        return None
    rng = np.random.default_rng(seed)
    cos_tilt = np.cos(np.radians(max_tilt_deg))
    idx = rng.integers(0, n, (iters, 3))
    a, b, c = X[idx[:, 0]], X[idx[:, 1]], X[idx[:, 2]]
    nrm = np.cross(b - a, c - a)
    length = np.linalg.norm(nrm, axis=1)
    ok = length > 1e-12
    nrm = nrm / np.where(ok, length, 1.0)[:, None]
    nrm *= np.where(nrm[:, 1] < 0, -1.0, 1.0)[:, None]  # pointing down (+y), towards the road
    d = np.einsum("ij,ij->i", nrm, a)
    ok &= (nrm[:, 1] >= cos_tilt) & (d > 0)
    if not ok.any():
        return None
    nrm, d = nrm[ok], d[ok]
    dist = np.abs(X @ nrm.T - d[None, :])  # [N, hypotheses]
    count = (dist < rel_tol * d[None, :]).sum(0)
    best = int(np.argmax(count))
    inl = dist[:, best] < rel_tol * d[best]
    for _ in range(2):  # least-squares refit, then the inliers of the refitted plane
        if inl.sum() < max(min_points, 3):
            return None
        c0 = X[inl].mean(0)
        _, _, vt = np.linalg.svd(X[inl] - c0, full_matrices=False)
        normal = vt[-1] * (1.0 if vt[-1][1] >= 0 else -1.0)
        dist0 = float(normal @ c0)
        if normal[1] < cos_tilt or dist0 <= 0:
            return None
        inl = np.abs(X @ normal - dist0) < rel_tol * dist0
    if inl.sum() < max(min_points, min_share * n):
        return None
    h = X @ normal
    near = (np.abs(h - dist0) < band * dist0) & (w > 0)
    if near.sum() < min_points:
        return None
    return GroundPlane(normal, float(1.0 / weighted_median(1.0 / h[near], w[near])), int(inl.sum()), n)
