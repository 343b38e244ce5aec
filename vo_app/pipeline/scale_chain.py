"""Scale of each unit translation: from depth images (``rgbd``) or from the previous pair (``triangulation``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import geometry as geo
from ..models.klt import refine_matches


@dataclass
class PairMemory:
    """Structure that the pair ending at the current reference frame leaves for the next pair.

    ``p``: ``[M,2]`` pixels of the reference frame (sub-pixel: forward-flow targets);
    ``depth``: ``[M]`` their triangulated depth at unit baseline; ``angle``: ``[M]``
    parallax (radians); ``scale``: the pair's translation norm.
    """

    p: np.ndarray
    depth: np.ndarray
    angle: np.ndarray
    scale: float


def make_memory(flow_fwd: np.ndarray, valid: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, scale: float,
                images: tuple[np.ndarray, np.ndarray] | None = None, step: int = 2) -> PairMemory:
    """Triangulate the pair's dense matches (on a ``step`` grid of frame 1) into frame 2.

    With ``images`` (uint8 gray frames 1 and 2) the matches are refined by Lucas-Kanade first.
    """
    h, w = valid.shape
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    ok = valid[ys, xs]
    g = np.stack([xs[ok], ys[ok]], -1).astype(np.float64)
    q = g + flow_fwd[ys[ok], xs[ok]].astype(np.float64)
    keep = np.ones(len(g), bool)
    if images is not None:
        q, keep = refine_matches(images[0], images[1], g, q)
    tri = geo.triangulate_midpoint(g, q, K, R, t)
    inside = keep & tri.valid & (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
    angle = np.arccos(np.clip(geo.ray_cosine(g, q, K, R), -1.0, 1.0))
    return PairMemory(q[inside], tri.depth2[inside], angle[inside], float(scale))


def depth_at(depth: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Nearest-pixel lookup of ``depth [H,W]`` at ``p [N,2]``; 0 outside."""
    h, w = depth.shape
    x = np.rint(p[:, 0]).astype(np.int64)
    y = np.rint(p[:, 1]).astype(np.int64)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    out = np.zeros(len(p), np.float64)
    out[inside] = depth[y[inside], x[inside]]
    return out


def scale_from_rgbd(depth_ref: np.ndarray, p1: np.ndarray, tri_depth: np.ndarray, min_points: int) -> tuple[float, int]:
    """Metric norm of the unit translation: robust ratio of measured to triangulated depth at ``p1``."""
    return geo.robust_ratio(depth_at(depth_ref, p1), tri_depth, min_points)


def scale_from_previous(mem: PairMemory, flow_fwd: np.ndarray, valid_new: np.ndarray, R: np.ndarray, t: np.ndarray,
                        K: np.ndarray, min_points: int, images: tuple[np.ndarray, np.ndarray] | None = None,
                        parallax_deg: tuple[float, ...] = (2.0, 1.0, 0.5, 0.0)) -> tuple[float, int, float]:
    """Ratio ``lambda_new / lambda_prev`` from the points of the shared frame that both pairs triangulate.

    Both pairs triangulate the same points with unit baselines (each from its own
    forward flow, so flow biases affect both alike); their depths then scale as
    ``1/lambda``.  Low-parallax points carry biased, noisy depths, so only points seen
    with at least ``parallax_deg`` in both pairs vote; the threshold relaxes, in the
    given order, until ``min_points`` remain.  Votes are weighted by the inverse
    variance of their log-depths (~ parallax^2).

    Returns ``(ratio, n_used, parallax_threshold_deg)``; ratio is NaN when even the
    last threshold leaves too few points.
    """
    p = mem.p
    xi = np.rint(p[:, 0]).astype(np.int64)
    yi = np.rint(p[:, 1]).astype(np.int64)
    ok = valid_new[yi, xi]
    p, d_old, a_old = p[ok], mem.depth[ok], mem.angle[ok]
    q = p + geo.sample_flow(flow_fwd, p.astype(np.float32)).astype(np.float64)
    if images is not None:
        q, keep = refine_matches(images[0], images[1], p, q)
        p, q, d_old, a_old = p[keep], q[keep], d_old[keep], a_old[keep]
    new = geo.triangulate_midpoint(p, q, K, R, t)
    a_new = np.arccos(np.clip(geo.ray_cosine(p, q, K, R), -1.0, 1.0))
    weight = 1.0 / (1.0 / np.maximum(a_new, 1e-6) ** 2 + 1.0 / np.maximum(a_old, 1e-6) ** 2)
    a_min = np.minimum(a_old, a_new)
    for thr in parallax_deg:
        sel = new.valid & (a_min >= np.radians(thr))
        if sel.sum() >= min_points:
            ratio, n = geo.robust_ratio(d_old[sel], new.depth1[sel], min_points, weights=weight[sel])
            return ratio, n, thr
    return float("nan"), int(new.valid.sum()), float("nan")
