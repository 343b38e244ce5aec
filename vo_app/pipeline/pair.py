"""Relative pose of one frame pair from dense forward/backward flow (docs/architecture.md, steps 3-7)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import geometry as geo
from .config import VOConfig

# Fallback names, as written in report.json.
NO_MOTION = "no_motion"
PURE_ROTATION = "pure_rotation"
TOO_FEW_INLIERS = "too_few_inliers"
DEGENERATE = "degenerate"


@dataclass
class PairResult:
    """Geometry of the pair (reference frame 1 -> current frame 2).

    ``R, t`` map camera-1 points into camera 2 (``X_2 = R X_1 + t``), ``|t| = 1``
    unless a fallback set ``t = 0``.  ``p1``/``depth1`` are the re-sampled,
    triangulated matches (pixels of frame 1, depth in camera 1, unit baseline).
    """

    R: np.ndarray
    t: np.ndarray
    fallback: str | None
    n_candidates: int = 0
    n_inliers: int = 0
    n_triangulated: int = 0
    median_flow: float = 0.0
    parallax: float = 0.0
    p1: np.ndarray | None = None
    p2: np.ndarray | None = None
    depth1: np.ndarray | None = None
    cos_parallax: np.ndarray | None = None
    rigid_score: np.ndarray | None = None  # [H,W] M_r * M_s * M_o of frame 1
    timings: dict = field(default_factory=dict)


def estimate_pair(flow_fwd: np.ndarray, flow_bwd: np.ndarray, K: np.ndarray, cfg: VOConfig,
                  seed: int) -> PairResult:
    """Run masks, sampling, RANSAC, pose, refinement, inlier map, re-sampling and triangulation.

    Args:
        flow_fwd, flow_bwd: ``[H,W,2]`` flows frame 1 -> 2 and 2 -> 1.
        K: ``[3,3]`` intrinsics at the flow's size.
        seed: seeds the sampling and RANSAC of this pair (deterministic runs).
    """
    tm = {}
    t0 = time.perf_counter()
    masks = geo.match_score(flow_fwd, flow_bwd)
    p1, p2, n_cand = geo.sample_matches(flow_fwd, masks["score"], cfg.n_matches, cfg.top_ratio, seed, backend=cfg.backend)
    tm["sample"] = time.perf_counter() - t0
    eye = np.eye(3)
    if n_cand < 8:
        return PairResult(eye, np.zeros(3), TOO_FEW_INLIERS, n_candidates=n_cand, timings=tm)
    median_flow = float(np.median(np.linalg.norm(p2 - p1, axis=1)))
    if median_flow < cfg.no_motion_px:
        return PairResult(eye, np.zeros(3), NO_MOTION, n_candidates=n_cand, median_flow=median_flow, timings=tm)

    t0 = time.perf_counter()
    R_rot, parallax_res = geo.fit_rotation(p1, p2, K)
    parallax = float(np.median(parallax_res))
    if parallax < cfg.rotation_parallax_px:
        tm["rotation"] = time.perf_counter() - t0
        return PairResult(R_rot, np.zeros(3), PURE_ROTATION, n_candidates=n_cand, median_flow=median_flow,
                          parallax=parallax, timings=tm)

    F, inliers, ok = geo.ransac_fundamental(
        p1[None], p2[None], threshold=cfg.ransac_threshold, confidence=cfg.ransac_confidence,
        max_iters=cfg.ransac_max_iters, seed=seed, backend=cfg.backend)
    tm["ransac"] = time.perf_counter() - t0
    n_inl = int(inliers.sum())
    common = dict(n_candidates=n_cand, n_inliers=n_inl, median_flow=median_flow, parallax=parallax)
    if not ok[0] or n_inl < cfg.min_inliers:
        return PairResult(eye, np.zeros(3), TOO_FEW_INLIERS, timings=tm, **common)

    t0 = time.perf_counter()
    pose = geo.pose_from_fundamental(F, K[None], p1[None], p2[None], inliers, backend=cfg.backend)
    R, t = pose.R[0], pose.t[0]
    if pose.n_front[0] < 0.5 * n_inl or not (np.isfinite(R).all() and np.isfinite(t).all()):
        tm["pose"] = time.perf_counter() - t0
        return PairResult(R_rot, np.zeros(3), DEGENERATE, timings=tm, **common)
    if cfg.refine:
        band = geo.sampson_distance(geo.fundamental_from_pose(K, R, t)[None], p1[None], p2[None])[0] < cfg.refine_band
        if band.sum() >= cfg.min_inliers:
            R, t, _ = geo.refine_pose(p1[band], p2[band], K, R, t, huber=cfg.refine_huber, backend=cfg.backend)
    F_pose = geo.fundamental_from_pose(K, R, t)
    tm["pose"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    m_r = geo.epipolar_score(F_pose, flow_fwd, cfg.epi_threshold, backend=cfg.backend)
    score2 = m_r * masks["score"]
    q1, q2, _ = geo.sample_matches(flow_fwd, score2, cfg.n_matches, cfg.top_ratio, seed + 1, backend=cfg.backend)
    tri = geo.triangulate_midpoint(q1, q2, K, R, t)
    tm["triangulate"] = time.perf_counter() - t0
    v = tri.valid
    if v.sum() < 0.5 * len(v):
        # Most points behind a camera or on near-parallel rays: the pose is not trustworthy;
        # the rotation-only model is the safer estimate of what happened.
        return PairResult(R_rot, np.zeros(3), DEGENERATE, timings=tm, **common)
    cos_par = geo.ray_cosine(q1[v], q2[v], K, R)
    return PairResult(R, t, None, n_triangulated=int(v.sum()), p1=q1[v], p2=q2[v], depth1=tri.depth1[v],
                      cos_parallax=cos_par, rigid_score=score2, timings=tm, **common)
