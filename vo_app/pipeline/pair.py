"""Relative pose of frame pairs from dense forward/backward flow (docs/architecture.md, steps 3-7).

:func:`estimate_pairs` runs steps 3-7 for ``B`` pairs at once through the batched geometry API
(:mod:`vo_app.geometry.batched`: the C++ kernels for CPU tensors, the CUDA kernels for CUDA
tensors, the NumPy reference code with ``backend="reference"``).  The streaming run calls it
with one pair, ``vo-run --batch N`` with up to N; each pair's result does not depend on the
other pairs of the batch (the kernels work pair by pair with per-pair seeds, and the NumPy
steps below loop over the pairs), so both give the same numbers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import geometry as geo
from ..geometry.flow_masks import match_score_fast
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
    ``timings`` hold seconds per step; in a batch, a batched step's time is shared
    equally by the pairs that went through it.
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
    samples: tuple | None = None  # (p1 [M,2], p2 [M,2]) the sampled matches, for the depth fallback (PnP)
    timings: dict = field(default_factory=dict)


def _stack(flows) -> np.ndarray:
    """``[B,H,W,2]`` float32, C-contiguous; one flow is a view, not a copy."""
    if isinstance(flows, np.ndarray) and flows.ndim == 4:
        return np.ascontiguousarray(flows, np.float32)
    if len(flows) == 1:
        return np.ascontiguousarray(flows[0], np.float32)[None]
    return np.ascontiguousarray(np.stack(flows), np.float32)


def _take(x, idx: np.ndarray, n: int):
    """Rows ``idx`` of ``x`` (NumPy or torch, indexed in NumPy on the CPU); ``x`` itself when
    ``idx`` is every row in order (no copy)."""
    if len(idx) == n and (n == 0 or (idx[0] == 0 and np.all(np.diff(idx) == 1))):
        return x
    if isinstance(x, np.ndarray):
        return x[idx]
    import torch

    if x.device.type == "cpu":  # NumPy indexing: no torch CPU op that could wake its OpenMP pool
        return torch.from_numpy(x.numpy()[idx])
    return x[torch.from_numpy(idx).to(x.device)]


class _Timer:
    """Accumulates a step's wall time over the pairs that went through it."""

    def __init__(self, timings: list[dict]):
        self.timings = timings

    def add(self, key: str, seconds: float, pairs) -> None:
        pairs = list(pairs)
        for b in pairs:
            self.timings[b][key] = self.timings[b].get(key, 0.0) + seconds / max(len(pairs), 1)


def match_scores_batch(flows_fwd: np.ndarray, flows_bwd: np.ndarray) -> np.ndarray:
    """Step 3 on the CPU: the sampling score ``M_o * M_s [B,H,W]`` float32 of ``[B,H,W,2]`` flows.

    The C++ kernel (``csrc/cpu/masks.cpp``) when the extension is built, else the NumPy version;
    both are tested against :func:`vo_app.geometry.flow_masks.match_score`.
    """
    ff = np.ascontiguousarray(flows_fwd, np.float32)
    fb = np.ascontiguousarray(flows_bwd, np.float32)
    if geo._ext.has("match_score_cpu"):
        return geo._ext._core.match_score_cpu(ff, fb, threads=2)[0]
    return np.stack([match_score_fast(f, b)["score"] for f, b in zip(ff, fb)])


def match_scores(flow_fwd: np.ndarray, flow_bwd: np.ndarray) -> np.ndarray:
    """:func:`match_scores_batch` for one pair of ``[H,W,2]`` flows: ``[H,W]``."""
    return match_scores_batch(flow_fwd[None], flow_bwd[None])[0]


def estimate_pairs(flows_fwd, flows_bwd, K: np.ndarray, cfg: VOConfig, seeds, device: str = "cpu") -> list[PairResult]:
    """Steps 3-7 for ``B`` pairs: masks, sampling, early exits, RANSAC, pose, refinement, M_r,
    re-sampling and triangulation.

    Args:
        flows_fwd, flows_bwd: ``B`` flows frame 1 -> 2 and 2 -> 1, ``[H,W,2]`` float32 each (or ``[B,H,W,2]``).
        K: ``[3,3]`` intrinsics at the flow's size (the same for every pair).
        seeds: ``B`` integers seeding each pair's sampling and RANSAC (deterministic runs).
        device: ``"cpu"`` or ``"cuda"`` (masks, sampling, RANSAC and M_r on the GPU through the
            batched API; the pose refinement and the NumPy steps stay on the CPU).
    Returns:
        one :class:`PairResult` per pair, in order.
    """
    import torch

    from ..geometry import batched

    ff, fb = _stack(flows_fwd), _stack(flows_bwd)
    B, H, W, _ = ff.shape
    K = np.asarray(K, np.float64)
    n_req = cfg.n_matches
    seeds = np.asarray([int(s) & 0xFFFFFFFFFFFFFFFF for s in seeds], np.uint64)
    if seeds.shape != (B,):
        raise ValueError(f"expected {B} seeds, got {seeds.shape}")
    cuda = device == "cuda"
    timings: list[dict] = [{} for _ in range(B)]
    timer = _Timer(timings)
    results: list[PairResult | None] = [None] * B
    eye = np.eye(3)

    # [3] masks: M_o, D_fb, M_s and the score M_o * M_s
    t0 = time.perf_counter()
    if cuda:
        from ..geometry.flow_scores_t import flow_scores_t

        flow_t = torch.from_numpy(ff).to(device).permute(0, 3, 1, 2)
        score_t = flow_scores_t(flow_t, torch.from_numpy(fb).to(device).permute(0, 3, 1, 2))["score"]
    else:
        score = match_scores_batch(ff, fb)
        flow_t, score_t = torch.from_numpy(ff).permute(0, 3, 1, 2), torch.from_numpy(score)
    timer.add("masks", time.perf_counter() - t0, range(B))

    # [4] sampling, then the early exits (too few candidates, no motion, pure rotation)
    t0 = time.perf_counter()
    m = batched.sample_matches(flow_t, score_t, n_req, cfg.top_ratio, seed=seeds, backend=cfg.backend)
    P1, P2 = m.p1.cpu().numpy(), m.p2.cpu().numpy()
    count, drawn = m.count.cpu().numpy(), m.mask.cpu().numpy().astype(bool)
    timer.add("sample", time.perf_counter() - t0, range(B))

    common: list[dict] = [{} for _ in range(B)]
    R_rot: list[np.ndarray | None] = [None] * B
    active = []
    for b in range(B):
        t0 = time.perf_counter()
        n_cand = int(count[b])
        p1, p2 = P1[b][drawn[b]], P2[b][drawn[b]]
        if n_cand < 8:
            results[b] = PairResult(eye, np.zeros(3), TOO_FEW_INLIERS, n_candidates=n_cand)
            continue
        median_flow = float(np.median(np.linalg.norm(p2 - p1, axis=1)))
        if median_flow < cfg.no_motion_px:
            results[b] = PairResult(eye, np.zeros(3), NO_MOTION, n_candidates=n_cand, median_flow=median_flow)
            continue
        R_rot[b], parallax_res = geo.fit_rotation(p1, p2, K)
        parallax = float(np.median(parallax_res))
        common[b] = dict(n_candidates=n_cand, median_flow=median_flow, parallax=parallax, samples=(p1, p2))
        timer.add("rotation", time.perf_counter() - t0, [b])
        if parallax < cfg.rotation_parallax_px:
            results[b] = PairResult(R_rot[b], np.zeros(3), PURE_ROTATION, **common[b])
            continue
        active.append(b)

    # [5] RANSAC on the pairs left
    A = np.asarray(active, np.int64)
    if len(A):
        t0 = time.perf_counter()
        dev_p1, dev_p2 = _take(m.p1, A, B), _take(m.p2, A, B)
        res = batched.ransac_fundamental(dev_p1, dev_p2, threshold=cfg.ransac_threshold,
                                         confidence=cfg.ransac_confidence, max_iters=cfg.ransac_max_iters,
                                         seed=seeds[A], check_planar=False, backend=cfg.backend)
        ok, n_inl = res.status.cpu().numpy() == 0, res.n_inliers.cpu().numpy()
        timer.add("ransac", time.perf_counter() - t0, A)
        keep = []
        for i, b in enumerate(A):
            common[b]["n_inliers"] = int(n_inl[i])
            # a small share of inliers: the flow lost the motion (too large, a pan against a held
            # reference), and what RANSAC kept is a coincidence of a few hundred matches
            if not ok[i] or n_inl[i] < max(cfg.min_inliers, cfg.min_inlier_share * drawn[b].sum()):
                results[b] = PairResult(eye, np.zeros(3), TOO_FEW_INLIERS, **common[b])
            else:
                keep.append(i)
        A_i = np.asarray(keep, np.int64)  # positions in A
    else:
        A_i = np.zeros(0, np.int64)

    # [6] pose from F (cheirality vote), then the robust refinement on the band around it
    Rs, ts, posed = {}, {}, []
    if len(A_i):
        t0 = time.perf_counter()
        sub = A[A_i]
        Kb = torch.from_numpy(np.broadcast_to(K, (len(sub), 3, 3)).copy())
        pose = batched.pose_from_fundamental(_take(res.F, A_i, len(A)), Kb.to(m.p1.device), _take(dev_p1, A_i, len(A)),
                                             _take(dev_p2, A_i, len(A)), _take(res.inliers, A_i, len(A)),
                                             backend=cfg.backend)
        R_all, t_all, n_front = (x.cpu().numpy() for x in pose[:3])
        for j, b in enumerate(sub):
            R, t = R_all[j], t_all[j]
            if n_front[j] < 0.5 * common[b]["n_inliers"] or not (np.isfinite(R).all() and np.isfinite(t).all()):
                results[b] = PairResult(R_rot[b], np.zeros(3), DEGENERATE, **common[b])
            else:
                Rs[b], ts[b] = R, t
                posed.append(b)
        to_refine, bands = [], []
        if cfg.refine:
            for b in posed:
                Fp = geo.fundamental_from_pose(K, Rs[b], ts[b])
                band = np.zeros(n_req, bool)
                band[drawn[b]] = geo.sampson_distance(Fp[None], P1[b][drawn[b]][None],
                                                      P2[b][drawn[b]][None])[0] < cfg.refine_band
                if band.sum() >= cfg.min_inliers:
                    to_refine.append(b)
                    bands.append(band)
        if to_refine:
            R_idx = np.asarray(to_refine, np.int64)
            nR = len(R_idx)
            Rr, tr, _ = batched.refine_pose(
                torch.from_numpy(P1[R_idx]), torch.from_numpy(P2[R_idx]),
                torch.from_numpy(np.broadcast_to(K, (nR, 3, 3)).copy()),
                torch.from_numpy(np.stack([Rs[b] for b in R_idx])), torch.from_numpy(np.stack([ts[b] for b in R_idx])),
                torch.from_numpy(np.stack(bands)), huber=cfg.refine_huber, backend=cfg.backend)
            Rr, tr = Rr.cpu().numpy(), tr.cpu().numpy()
            for j, b in enumerate(R_idx):
                Rs[b], ts[b] = Rr[j], tr[j]
        timer.add("pose", time.perf_counter() - t0, sub)

    # [7] M_r under the refined pose, re-sampling from M_r * score, triangulation
    P = np.asarray(posed, np.int64)
    if len(P):
        t0 = time.perf_counter()
        F_pose = np.stack([geo.fundamental_from_pose(K, Rs[b], ts[b]) for b in P])
        flow_p = _take(flow_t, P, B)
        _, m_r = batched.epipolar_score_map(flow_p, torch.from_numpy(F_pose).to(flow_p.device), cfg.epi_threshold,
                                            backend=cfg.backend)
        if cuda:
            score2_t = m_r * _take(score_t, P, B)
            score2 = score2_t.cpu().numpy()
        else:
            score2 = m_r.numpy() * _take(score, P, B)
            score2_t = torch.from_numpy(score2)
        m2 = batched.sample_matches(flow_p, score2_t, n_req, cfg.top_ratio, seed=seeds[P] + np.uint64(1),
                                    backend=cfg.backend)
        Q1, Q2, drawn2 = m2.p1.cpu().numpy(), m2.p2.cpu().numpy(), m2.mask.cpu().numpy().astype(bool)
        timer.add("resample", time.perf_counter() - t0, P)
        for j, b in enumerate(P):
            t0 = time.perf_counter()
            q1, q2 = Q1[j][drawn2[j]], Q2[j][drawn2[j]]
            R, t = Rs[b], ts[b]
            tri = geo.triangulate_midpoint(q1, q2, K, R, t)
            v = tri.valid
            if v.sum() < 0.5 * len(v):
                # Most points behind a camera or on near-parallel rays: the pose is not trustworthy;
                # the rotation-only model is the safer estimate of what happened.
                results[b] = PairResult(R_rot[b], np.zeros(3), DEGENERATE, **common[b])
            else:
                cos_par = tri.ray_cos[v]  # = geo.ray_cosine(q1[v], q2[v], K, R)
                results[b] = PairResult(R, t, None, n_triangulated=int(v.sum()), p1=q1[v], p2=q2[v],
                                        depth1=tri.depth1[v], cos_parallax=cos_par, rigid_score=score2[j], **common[b])
            timer.add("triangulate", time.perf_counter() - t0, [b])

    for b, r in enumerate(results):
        r.timings = timings[b]
    return results


def estimate_pair(flow_fwd: np.ndarray, flow_bwd: np.ndarray, K: np.ndarray, cfg: VOConfig, seed: int,
                  device: str = "cpu") -> PairResult:
    """:func:`estimate_pairs` for one pair (``[H,W,2]`` flows frame 1 -> 2 and 2 -> 1)."""
    return estimate_pairs([flow_fwd], [flow_bwd], K, cfg, [seed], device)[0]
