"""Scale of each unit translation: from depth images (``rgbd``) or from the previous pair (``triangulation``).

The runtime's triangulation chain is :func:`dense_matches` + :func:`ratio_from_dense` +
:meth:`DenseMatches.memory`: one Lucas-Kanade call and one triangulation per posed pair serve
both the ratio to the previous pair and the memory for the next one.  :func:`make_memory` and
:func:`scale_from_previous` are the earlier two-pass form (each pair refined and triangulated
its points twice), kept for reference and tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import torch

from .. import geometry as geo
from ..models.klt import refine_matches


def triangulate(p: np.ndarray, q: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                backend: str = "auto") -> geo.Triangulated:
    """:func:`vo_app.geometry.triangulate_midpoint` of one pair's matches ``p, q [N,2]`` (NumPy in and out)."""
    f = lambda x: torch.from_numpy(np.asarray(x, np.float64))[None]  # noqa: E731
    return geo.triangulate_midpoint(f(p), f(q), f(K), f(R), f(t), backend=backend).pair(0)


@dataclass
class PairMemory:
    """Structure that the pair ending at the current reference frame leaves for the next pair.

    ``p``: ``[M,2]`` pixels of the reference frame (sub-pixel: forward-flow targets);
    ``depth``: ``[M]`` their triangulated depth at unit baseline; ``angle``: ``[M]``
    parallax (radians); ``scale``: the pair's translation norm; ``span``: how many frames apart
    the pair's two frames are (more than 1 where the reference was kept over some frames), so
    that the next pair's expected norm is ``scale * its span / span`` at a constant speed.
    """

    p: np.ndarray
    depth: np.ndarray
    angle: np.ndarray
    scale: float
    span: int = 1
    ids: np.ndarray | None = None  # [M] track ids (pipeline/window/tracks.py); None: not tracked


def _take(ids: np.ndarray | None, idx) -> np.ndarray | None:
    return None if ids is None else ids[idx]


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


def carry_memory(mem: PairMemory, flow_fwd: np.ndarray, T_rel: np.ndarray, K: np.ndarray) -> PairMemory:
    """The memory of a reference frame moved to the next one, across a pair that is posed without
    triangulating (a rotation-only pose, a pose against depth or the reference's points, a guess).

    The points follow the pair's forward flow ``flow_fwd [H,W,2]``; their depths follow its pose
    ``T_rel [4,4]`` (``X_2 = R X_1 + t``, ``t`` metric; depths are in the memory's units, so ``t`` is
    divided by ``mem.scale``).  Points that leave the image or fall behind the camera are dropped.
    The scale and span stay those of the pair that triangulated the points, so the next posed pair's
    ratio to them still measures its norm against that pair's.
    """
    from ..geometry.pnp import backproject

    h, w = flow_fwd.shape[:2]
    q = mem.p + geo.sample_flow(flow_fwd, mem.p.astype(np.float32)).astype(np.float64)
    X = backproject(mem.p, mem.depth, K) @ T_rel[:3, :3].T + T_rel[:3, 3] / mem.scale
    keep = (X[:, 2] > 0) & (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
    return PairMemory(q[keep], X[keep, 2], mem.angle[keep], mem.scale, mem.span, _take(mem.ids, keep))


def fill_memory(fresh: PairMemory, older: PairMemory, step: int) -> PairMemory:
    """``fresh`` (a posed pair's memory) with the points of ``older`` (the previous memory carried
    to the same frame, :func:`carry_memory`) added in the ``step`` cells that ``fresh`` leaves empty,
    their depths converted to ``fresh``'s norm.  Where a pair's rigid mask covers little of the image
    (a poor pose, motion blur), its own memory is small and the next pair could not measure its
    ratio; the carried points keep it measurable."""
    if not len(older.p):
        return fresh
    def cells(p):
        return np.rint(p[:, 1] / step).astype(np.int64) * 100_000 + np.rint(p[:, 0] / step).astype(np.int64)
    add = ~np.isin(cells(older.p), cells(fresh.p))
    if not add.any():
        return fresh
    return PairMemory(np.concatenate([fresh.p, older.p[add]]),
                      np.concatenate([fresh.depth, older.depth[add] * older.scale / fresh.scale]),
                      np.concatenate([fresh.angle, older.angle[add]]), fresh.scale, fresh.span,
                      None if fresh.ids is None or older.ids is None else np.concatenate([fresh.ids, older.ids[add]]))


MAX_LK_MOVE = 1.5  # px: a Lucas-Kanade match farther than this from its flow start is dropped


@dataclass
class DenseMatches:
    """A posed pair's dense matches for the scale chain, computed once (:func:`dense_matches`).

    ``p [M,2]``: points of frame 1: first the previous memory's points that this pair's rigid
    mask keeps (``shared`` of them, ``shared_index`` into that memory), then grid points of the
    cells of the ``step`` grid that none of them occupies; ``q [M,2]``: their matches in frame 2
    (flow, then Lucas-Kanade); ``ok [M]``: kept by Lucas-Kanade; ``tri``: their mid-point
    triangulation; ``angle [M]``: parallax (radians).
    """

    p: np.ndarray
    q: np.ndarray
    ok: np.ndarray
    tri: geo.Triangulated
    angle: np.ndarray
    shared: int
    shared_index: np.ndarray
    size: tuple[int, int]  # (h, w) of the images
    step: int
    ids: np.ndarray | None = None  # [M] track ids: the memory's for the shared points, then fresh ones

    def kept(self) -> np.ndarray:
        """``[M]``: matched in frame 2 inside the image, kept by Lucas-Kanade, triangulated well (the points
        that go on: the memory's, and the back end's track observations in frame 2)."""
        h, w = self.size
        q = self.q
        return self.ok & self.tri.valid & (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)

    def memory(self, scale: float, span: int = 1) -> PairMemory:
        """What this pair leaves for the next one: its matches in frame 2 with their depths.

        Points that leave the image, failed Lucas-Kanade or triangulate badly are dropped, and
        at most one point is kept per ``step`` cell of frame 2 (the first: the points tracked
        longest come first), so that the memory stays as large as one grid.
        """
        h, w = self.size
        q = self.q
        idx = np.flatnonzero(self.kept())
        if len(idx):
            cx = np.rint(q[idx, 0] / self.step).astype(np.int64)
            cy = np.rint(q[idx, 1] / self.step).astype(np.int64)
            _, first = np.unique(cy * (w // self.step + 2) + cx, return_index=True)
            idx = idx[np.sort(first)]
        return PairMemory(q[idx], self.tri.depth2[idx], self.angle[idx], float(scale), int(span), _take(self.ids, idx))

    def reference_memory(self, scale: float, span: int = 1) -> PairMemory:
        """The pair's points in frame 1 with their depths there: the memory of a reference frame that
        stays the reference (keyframes, ``keyframe_parallax_px``), for the next pairs from it."""
        idx = np.flatnonzero(self.ok & self.tri.valid)
        return PairMemory(self.p[idx], self.tri.depth1[idx], self.angle[idx], float(scale), int(span),
                          _take(self.ids, idx))


def dense_matches(mem: PairMemory | None, flow_fwd: np.ndarray, valid: np.ndarray, R: np.ndarray, t: np.ndarray,
                  K: np.ndarray, images: tuple[np.ndarray, np.ndarray] | None = None, step: int = 2,
                  threads: int = 1, lk_min_parallax_deg: float = 0.0, backend: str = "auto",
                  first_id: int | None = None) -> DenseMatches:
    """Match, refine and triangulate the points a posed pair needs for the scale chain, once.

    The points are the previous memory's points (``mem``, frame 1 of this pair is frame 2 of
    that one) where this pair's rigid mask ``valid [H,W]`` holds, and the grid points (every
    ``step``-th pixel) where ``valid`` holds in the cells those points leave empty.  Their
    matches are ``p + flow_fwd(p)`` (bilinear), refined by Lucas-Kanade on ``images`` (uint8
    gray frames 1 and 2) in one call (``threads``: split over that many threads, same result), and
    triangulated with ``R, t``.  With ``lk_min_parallax_deg > 0`` only the matches whose parallax
    (from the flow match) reaches it are refined: the ratio votes at ``scale_parallax_deg``'s
    first threshold (2 deg) need only those (Lucas-Kanade moves a match by at most
    ``MAX_LK_MOVE`` px, a few hundredths of a degree at KITTI's focal length); the others keep their
    flow match (``benchmarks/README.md``, "End-to-end speed", has the measurement).  ``backend``: the
    geometry backend of the triangulation (``auto``, ``cpp`` or ``reference``).  With ``first_id``
    (the back end's tracks, ``pipeline/window/tracks.py``) every point gets an id: a shared point
    keeps its memory point's, a grid point gets the next of ``first_id, first_id + 1, ...``.
    """
    h, w = valid.shape
    if mem is not None and len(mem.p):
        xi = np.rint(mem.p[:, 0]).astype(np.int64)
        yi = np.rint(mem.p[:, 1]).astype(np.int64)
        shared_index = np.flatnonzero(valid[yi, xi])
    else:
        shared_index = np.zeros(0, np.int64)
    ps = mem.p[shared_index] if len(shared_index) else np.zeros((0, 2))
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    free = valid[ys, xs]
    if len(ps):
        cx = np.rint(ps[:, 0] / step).astype(np.int64)
        cy = np.rint(ps[:, 1] / step).astype(np.int64)
        inb = (cx >= 0) & (cx < xs.shape[1]) & (cy >= 0) & (cy < xs.shape[0])
        free[cy[inb], cx[inb]] = False
    g = np.stack([xs[free], ys[free]], -1).astype(np.float64)
    p = np.concatenate([ps, g]) if len(ps) else g
    q = p + geo.sample_flow(flow_fwd, p.astype(np.float32)).astype(np.float64)
    ok = np.ones(len(p), bool)
    if images is not None and lk_min_parallax_deg > 0:
        tri = triangulate(p, q, K, R, t, backend)
        sel = np.flatnonzero(tri.ray_cos <= np.cos(np.radians(lk_min_parallax_deg)))
        qs, oks = refine_matches(images[0], images[1], p[sel], q[sel], max_move=MAX_LK_MOVE, threads=threads)
        q = q.copy()
        q[sel] = qs
        ok[sel] = oks  # the others keep their flow match (ok): they stay in the memory
        refined = triangulate(p[sel], qs, K, R, t, backend)  # only the refined matches again
        for name in ("points", "depth1", "depth2", "valid", "cos_angle", "ray_cos"):
            getattr(tri, name)[sel] = getattr(refined, name)
    else:
        if images is not None:
            q, ok = refine_matches(images[0], images[1], p, q, max_move=MAX_LK_MOVE, threads=threads)
        tri = triangulate(p, q, K, R, t, backend)
    angle = np.arccos(np.clip(tri.ray_cos, -1.0, 1.0))  # the parallax angle
    ids = None
    if first_id is not None:  # tracks: the shared points keep their ids, the grid points get fresh ones
        old = mem.ids[shared_index] if mem is not None and mem.ids is not None else np.full(len(ps), -1, np.int64)
        ids = np.concatenate([old, first_id + np.arange(len(g), dtype=np.int64)])
    return DenseMatches(p, q, ok, tri, angle, len(ps), shared_index, (h, w), step, ids)


def ratio_from_dense(mem: PairMemory, dense: DenseMatches, min_points: int,
                     parallax_deg: tuple[float, ...] = (2.0, 1.0, 0.5, 0.0)) -> tuple[float, int, float]:
    """``lambda_new / lambda_prev`` from the points ``dense`` shares with ``mem``: the rule of
    the earlier two-pass form (parallax-weighted robust ratio of the two depths, parallax
    thresholds relaxed in turn until ``min_points`` remain) on the matches :func:`dense_matches`
    already refined and triangulated.  Returns ``(ratio, n_used, parallax_threshold_deg)``.
    """
    k = dense.shared
    keep = dense.ok[:k]
    idx = dense.shared_index[keep]
    d_old, a_old = mem.depth[idx], mem.angle[idx]
    valid = dense.tri.valid[:k][keep]
    d_new = dense.tri.depth1[:k][keep]
    a_new = dense.angle[:k][keep]
    weight = 1.0 / (1.0 / np.maximum(a_new, 1e-6) ** 2 + 1.0 / np.maximum(a_old, 1e-6) ** 2)
    a_min = np.minimum(a_old, a_new)
    for thr in parallax_deg:
        sel = valid & (a_min >= np.radians(thr))
        if sel.sum() >= min_points:
            ratio, n = geo.robust_ratio(d_old[sel], d_new[sel], min_points, weights=weight[sel])
            return ratio, n, thr
    return float("nan"), int(valid.sum()), float("nan")


BRIDGE_MAX_PARALLAX_DEG = 0.5


def chain_sigma(base: float, parallax_deg: float, full_parallax_deg: float, max_factor: float = 16.0) -> float:
    """Log-std of one chain ratio measured on points of at least ``parallax_deg`` of parallax (the
    window's ratio factor, ``backend.py``).

    ``base`` is the log-std at the full threshold ``full_parallax_deg`` (the first of
    ``scale_parallax_deg``); a ratio that needed a relaxed threshold gets ``base x (full /
    parallax)^2``, at most ``base x max_factor`` (a threshold of 0 counts as a quarter of the full
    one).  The square is measured, not derived: against the ground truth of the rendered
    stop-and-go drive, the robust std of the chain's log-ratio errors was 0.0014 / 0.0054 / 0.0176
    at 2 / 1 / 0.5 deg with DIS fine and 0.0033 / 0.0188 / 0.0675 with DIS medium (docs/scale.md).
    """
    if not (np.isfinite(parallax_deg) and full_parallax_deg > 0):
        return base * max_factor
    factor = (full_parallax_deg / max(parallax_deg, 0.25 * full_parallax_deg)) ** 2
    return base * min(max(factor, 1.0), max_factor)


def bridge_thresholds(parallax_deg: tuple[float, ...]) -> tuple[float, ...]:
    """The parallax thresholds of :func:`ratio_from_dense` for a ratio across a damaged frame: those of
    ``parallax_deg`` up to ``BRIDGE_MAX_PARALLAX_DEG`` (at least the smallest one).

    A pair over a missing frame spans two frames of motion: its flow is poorer where the motion
    is largest (the near road and the image sides), which is where the previous pair's
    high-parallax points are, so few of them remain, and the ratio on those few was off by up
    to 20 % on KITTI 06 (its first threshold, 2 deg, with ~50 points), against under 1 % on the
    thousand-odd points over 0.5 deg.  The same holds for the next pair's ratio to the bridge's
    points (docs/robustness.md).
    """
    return tuple(t for t in parallax_deg if t <= BRIDGE_MAX_PARALLAX_DEG) or (min(parallax_deg),)

