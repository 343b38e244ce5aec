"""The road plane under a driving camera, from triangulated points: an absolute scale cue.

A camera mounted at a known height ``h`` above a flat road sees the road as the plane
``n . X = d`` (camera coordinates, y pointing down, ``n`` close to ``+y``).  Triangulated at
unit baseline, the points give the plane at distance ``d``; the pair's translation norm is then
``h / d``.  :func:`fit_ground_plane` finds the plane with a seeded RANSAC over points of the
lower central image, accepts only a plane whose normal is within ``max_tilt_deg`` of the
camera's down axis and has few points below it, and refits it with a redescending M-estimator;
points too imprecise to fit it to can still veto a plane they lie far below.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GroundPlane:
    """``normal [3]`` (unit, pointing down, away from the camera), ``distance`` of the camera centre
    to the plane (same units as the points), ``n_inliers`` of ``n_candidates`` lower-image points."""

    normal: np.ndarray
    distance: float
    n_inliers: int
    n_candidates: int


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b, -1)`` over a last axis of 3, with broadcasting, in element-wise NumPy (no BLAS call)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def ground_candidates(pixels: np.ndarray, K: np.ndarray, size: tuple[int, int], below: float = 0.08,
                      half_width: float = 0.3) -> np.ndarray:
    """``[N]`` bool: pixels ``[N,2]`` of the road region, at least ``below * H`` rows under the principal
    point and within ``half_width * W`` of it horizontally (``size = (W, H)``)."""
    w, h = size
    cx, cy = K[0, 2], K[1, 2]
    return (pixels[:, 1] > cy + below * h) & (np.abs(pixels[:, 0] - cx) < half_width * w)


def fit_ground_plane(points: np.ndarray, weights: np.ndarray | None = None, *, fit: np.ndarray | None = None,
                     noise: np.ndarray | None = None, seed: int = 0, iters: int = 600,
                     rel_tol: float = 0.04, max_tilt_deg: float = 5.0, min_points: int = 50,
                     min_share: float = 0.05, below_penalty: float = 1.0, below_k: float = 3.0,
                     max_below: float = 0.25, veto_rel: float = 0.3, sigma: float = 0.02, irls_iters: int = 8,
                     score_points: int = 1000) -> GroundPlane | None:
    """Fit the road plane to candidate points ``[N,3]`` (camera coordinates, y down).

    ``fit [N]`` (bool, default all) marks the points precise enough to fit the plane to; the others
    (e.g. triangulated with little parallax) only vote against planes they lie far below: by more
    than ``max(veto_rel, 3 * noise)`` of the plane's distance, with ``noise [N]`` (default 0) each
    point's relative depth std.

    1. RANSAC on 3-point planes whose normal is within ``max_tilt_deg`` of ``+y``.  A point is an
       inlier when its distance to the plane is below ``rel_tol`` times the plane's distance to the
       camera (the points' scale is unknown).  Nothing stands below the road, so a hypothesis loses
       ``below_penalty`` for every point more than ``below_k * rel_tol`` below it.  Without that
       rule, where the road is a minority of the lower image (cars and crates close beside the
       camera), planes tilted through the bottoms of their faces and the road won, too far from the
       camera (docs/scale.md, "The ground plane").  Hypotheses are scored on at most ``score_points`` of the points
       (a seeded subset; the refit uses all).
    2. From the best hypothesis, an M-estimator with Gaussian (redescending) weights
       ``exp(-r^2 / 2 sigma^2)`` on the relative residual ``r``, times ``weights`` (e.g.
       parallax^2; default 1), refits the plane ``irls_iters`` times: it settles on the nearest
       mode, the road, where a least-squares refit on a band would be pulled up by the bottoms of
       the objects standing on it.  The distance is the weighted geometric mean of the supporting
       points' heights (triangulation noise is close to log-normal in depth).

    None when fewer than ``min_points`` fitting candidates or supporting points, when the final
    inliers (within ``rel_tol``) are fewer than ``min_share`` of the fitting candidates, when no
    plane is flat enough, or when more than ``max_below`` times as many of the points outside ``fit``
    as it has inliers lie below the final plane: at walking pace only objects beside the road (crate tops, car
    roofs) have the parallax to be fitted, and the road, seen with little parallax, lies far
    below such a plane (docs/scale.md, "The ground plane").
    """
    X_all = np.asarray(points, np.float64)
    keep = np.isfinite(X_all).all(1)
    X_all = X_all[keep]
    noise_all = np.zeros(len(X_all)) if noise is None else np.asarray(noise, np.float64)[keep]
    use = np.ones(len(X_all), bool) if fit is None else np.asarray(fit, bool)[keep]
    X = X_all[use]
    w = np.ones(len(X)) if weights is None else np.clip(np.asarray(weights, np.float64)[keep][use], 0.0, None)
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
    d = _dot(nrm, a)
    ok &= (nrm[:, 1] >= cos_tilt) & (d > 0)
    if not ok.any():
        return None
    nrm, d = nrm[ok], d[ok]
    S = X if n <= score_points else X[rng.choice(n, score_points, replace=False)]
    # the points that vote against planes above them (scored on as many as S at most), and by how much
    # they must lie below: the fitting points by below_k tolerances, the others by their noise.  With
    # ``fit`` a fitting point is scored in S and may be again in B, so its below-vote counts up to
    # twice; scoring everything on one sample instead was faster and worse on the stop-and-go drive
    # and KITTI 01 / 06 (docs/scale.md, "The ground plane"), so this form stays.
    margin_all = np.where(use, below_k * rel_tol, np.maximum(veto_rel, 3.0 * noise_all))
    if fit is None:
        B, B_margin = S, np.full(len(S), below_k * rel_tol)
    else:
        m_all = len(X_all)
        vb = np.arange(m_all) if m_all <= score_points else rng.choice(m_all, score_points, replace=False)
        B, B_margin = X_all[vb], margin_all[vb]
    # [points, hypotheses], > 0 below the plane; written out, not a matrix product: BLAS would wake
    # its thread pool, whose spinning threads took the cores from the flow (vo-run --scale fused ran
    # 1.5-2.4x slower on 2 cores for it, docs/scale.md, "The ground plane")
    resid = _dot(S[:, None, :], nrm[None, :, :]) - d[None, :]
    below = (_dot(B[:, None, :], nrm[None, :, :]) - d[None, :]) > B_margin[:, None] * d[None, :]
    score = (np.abs(resid) < rel_tol * d[None, :]).sum(0) - below_penalty * below.sum(0) * (len(S) / len(B))
    best = int(np.argmax(score))
    normal, dist = nrm[best], float(d[best])
    for _ in range(irls_iters):
        r = (_dot(X, normal) - dist) / dist
        g = w * np.exp(-0.5 * (r / sigma) ** 2) * (np.abs(r) < 3.0 * sigma)
        sup = g > 0
        if sup.sum() < max(min_points, 3):
            return None
        c0 = (g[:, None] * X).sum(0) / g.sum()
        _, vecs = np.linalg.eigh(np.einsum("ni,nj->ij", g[:, None] * (X - c0), X - c0))
        normal = vecs[:, 0] * (1.0 if vecs[1, 0] >= 0 else -1.0)
        if normal[1] < cos_tilt:
            return None
        h = _dot(X[sup], normal)
        if (h <= 0).any():
            return None
        dist = float(np.exp((g[sup] * np.log(h)).sum() / g[sup].sum()))
    inl = np.abs(_dot(X, normal) - dist) < rel_tol * dist
    if inl.sum() < max(min_points, min_share * n):
        return None
    rest = ~use
    n_below = int(np.sum(_dot(X_all[rest], normal) - dist > margin_all[rest] * dist))
    if n_below > max_below * inl.sum():
        return None
    return GroundPlane(normal, dist, int(inl.sum()), n)
