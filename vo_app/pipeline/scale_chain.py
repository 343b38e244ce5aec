"""Scale of each unit translation: from depth images (``rgbd``) or from the previous pair (``triangulation``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import geometry as geo


@dataclass
class PairMemory:
    """What the triangulation scale needs from the pair that ended at the current reference frame.

    ``flow_bwd``: flow from the reference frame back to its own reference ``[H,W,2]``;
    ``R, t``: that pair's unit-norm motion; ``scale``: its metric-or-consistent norm;
    ``valid``: ``[H,W]`` pixels of the reference frame whose backward flow is consistent.
    """

    flow_bwd: np.ndarray
    R: np.ndarray
    t: np.ndarray
    scale: float
    valid: np.ndarray


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


def scale_from_previous(mem: PairMemory, p1: np.ndarray, tri_depth: np.ndarray, K: np.ndarray,
                        min_points: int) -> tuple[float, int]:
    """Ratio ``lambda_new / lambda_prev`` from the points both pairs see in the shared frame.

    The previous pair triangulates the reference-frame pixels ``p1`` again (through
    its backward flow); with unit baselines, depths scale as ``1/lambda``.
    """
    xi = np.rint(p1[:, 0]).astype(np.int64)
    yi = np.rint(p1[:, 1]).astype(np.int64)
    ok = mem.valid[yi, xi]
    q = p1 + mem.flow_bwd[yi, xi].astype(np.float64)
    prev = geo.triangulate_midpoint(q, p1, K, mem.R, mem.t)
    ok &= prev.valid
    return geo.robust_ratio(prev.depth2[ok], tri_depth[ok], min_points)
