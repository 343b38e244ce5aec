"""Relative pose of frame pairs from dense forward/backward flow (docs/architecture.md, steps 3-7).

:func:`two_view` runs steps 3-7 for ``B`` pairs at once through the batched geometry API
(:mod:`vo_app.geometry.batched`: the C++ kernels for CPU tensors, the CUDA kernels for CUDA
tensors, the NumPy reference code with ``backend="reference"``).  ``vo-run`` calls it (through
``pipeline/pair.py``) with one pair, ``vo-run --batch N`` with up to N; each pair's result does
not depend on the other pairs of the batch (the kernels work pair by pair with per-pair seeds,
and the NumPy steps below loop over the pairs), so both give the same numbers.  The depth
training calls it too (:func:`two_view_tensors`), with its own :class:`TwoViewParams`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

import torch

from . import batched
from .epipolar import fundamental_from_pose, sampson_distance
from .rotation_only import fit_rotation
from .triangulate import triangulate_midpoint

# Fallback names, as written in report.json.
NO_MOTION = "no_motion"
PURE_ROTATION = "pure_rotation"
TOO_FEW_INLIERS = "too_few_inliers"
DEGENERATE = "degenerate"


@dataclass
class TwoViewParams:
    """The knobs of steps 3-7; the defaults are ``vo-run``'s (``pipeline/config.py`` ``VOConfig``).

    ``early_exits``: stop a pair at too few candidates, no motion (median flow under
    ``no_motion_px``) or a pure rotation (median parallax after the rotation-only fit under
    ``rotation_parallax_px``); without them only a pair with fewer than 8 candidates stops before
    RANSAC.  ``refine``: the robust Gauss-Newton refinement of the pose on the matches within
    ``refine_band`` px (Sampson) of it.  A pair is kept when RANSAC has at least
    ``max(min_inliers, min_inlier_share * drawn)`` inliers.  ``rigid_from_ransac``: M_r (and the
    re-sampling) under RANSAC's F instead of the F of the (refined) pose.
    """

    n_matches: int = 6000
    top_ratio: float = 0.2
    ransac_threshold: float = 0.1
    ransac_confidence: float = 0.99
    ransac_max_iters: int = 1000
    refine: bool = True
    refine_band: float = 1.0
    refine_huber: float = 0.5
    epi_threshold: float = 0.5
    min_inliers: int = 50
    min_inlier_share: float = 0.2
    no_motion_px: float = 0.3
    rotation_parallax_px: float = 0.3
    early_exits: bool = True
    rigid_from_ransac: bool = False
    backend: str = "auto"


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
    occ: np.ndarray | None = None  # [H,W] M_o of frame 1
    inlier_map: np.ndarray | None = None  # [H,W] M_r under the pose (posed pairs)
    F: np.ndarray | None = None  # [3,3] the F of M_r (posed pairs)
    resampled: tuple | None = None  # (p1 [n,2], p2 [n,2], drawn [n]) the re-sampled matches, NaN where not drawn
    timings: dict = field(default_factory=dict)


def _stack(flows) -> np.ndarray:
    """``[B,H,W,2]`` float32, C-contiguous; one flow is a view, not a copy."""
    if isinstance(flows, torch.Tensor):
        if flows.ndim != 4 or flows.shape[1] != 2:
            raise ValueError(f"expected flows [B,2,H,W], got {tuple(flows.shape)}")
        return np.ascontiguousarray(flows.detach().permute(0, 2, 3, 1).to("cpu", torch.float32).numpy())
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


def two_view(flows_fwd, flows_bwd, K: np.ndarray, seeds, params: TwoViewParams | None = None,
             device="cpu") -> list[PairResult]:
    """Steps 3-7 for ``B`` pairs: masks, sampling, early exits, RANSAC, pose, refinement, M_r,
    re-sampling and triangulation.

    Args:
        flows_fwd, flows_bwd: ``B`` flows frame 1 -> 2 and 2 -> 1, ``[H,W,2]`` float32 each (or
            ``[B,H,W,2]`` NumPy, or ``[B,2,H,W]`` torch: copied to the CPU as ``[B,H,W,2]``).
        K: ``[3,3]`` intrinsics at the flow's size (the same for every pair).
        seeds: ``B`` integers seeding each pair's sampling and RANSAC (deterministic runs).
        params: :class:`TwoViewParams` (``None``: ``vo-run``'s defaults).
        device: ``"cpu"`` or ``"cuda"`` (masks, sampling, RANSAC and M_r on the GPU through the
            batched API; the pose refinement and the NumPy steps stay on the CPU).
    Returns:
        one :class:`PairResult` per pair, in order.
    """
    cfg = TwoViewParams() if params is None else params
    ff, fb = _stack(flows_fwd), _stack(flows_bwd)
    B, H, W, _ = ff.shape
    K = np.asarray(K, np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"expected K [3,3], got {K.shape}")
    if fb.shape != ff.shape:
        raise ValueError(f"expected flows of one shape, got {ff.shape} and {fb.shape}")
    n_req = cfg.n_matches
    seeds = np.asarray([int(s) & 0xFFFFFFFFFFFFFFFF for s in seeds], np.uint64)
    if seeds.shape != (B,):
        raise ValueError(f"expected {B} seeds, got {seeds.shape}")
    cuda = torch.device(device).type == "cuda"
    timings: list[dict] = [{} for _ in range(B)]
    timer = _Timer(timings)
    results: list[PairResult | None] = [None] * B
    eye = np.eye(3)

    # [3] masks: M_o, D_fb, M_s and the score M_o * M_s
    t0 = time.perf_counter()
    flow_t = torch.from_numpy(ff).to(device).permute(0, 3, 1, 2)
    scores = batched.match_score(flow_t, torch.from_numpy(fb).to(device).permute(0, 3, 1, 2), backend=cfg.backend)
    score_t = scores.score
    occ = scores.occ.cpu().numpy()
    if not cuda:
        score = score_t.numpy()
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
        if cfg.early_exits and median_flow < cfg.no_motion_px:
            results[b] = PairResult(eye, np.zeros(3), NO_MOTION, n_candidates=n_cand, median_flow=median_flow)
            continue
        R_rot[b], parallax_res = fit_rotation(p1, p2, K)
        parallax = float(np.median(parallax_res))
        common[b] = dict(n_candidates=n_cand, median_flow=median_flow, parallax=parallax, samples=(p1, p2), occ=occ[b])
        timer.add("rotation", time.perf_counter() - t0, [b])
        if cfg.early_exits and parallax < cfg.rotation_parallax_px:
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
                Fp = fundamental_from_pose(K, Rs[b], ts[b])
                band = np.zeros(n_req, bool)
                band[drawn[b]] = sampson_distance(Fp[None], P1[b][drawn[b]][None],
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
        if cfg.rigid_from_ransac:
            F_ransac = dict(zip(A.tolist(), res.F.cpu().numpy()))
            F_pose = np.stack([F_ransac[b] for b in P])
        else:
            F_pose = np.stack([fundamental_from_pose(K, Rs[b], ts[b]) for b in P])
        flow_p = _take(flow_t, P, B)
        _, m_r = batched.epipolar_score_map(flow_p, torch.from_numpy(F_pose).to(flow_p.device), cfg.epi_threshold,
                                            backend=cfg.backend)
        if cuda:
            score2_t = m_r * _take(score_t, P, B)
            score2 = score2_t.cpu().numpy()
            m_r_np = m_r.cpu().numpy()
        else:
            m_r_np = m_r.numpy()
            score2 = m_r_np * _take(score, P, B)
            score2_t = torch.from_numpy(score2)
        m2 = batched.sample_matches(flow_p, score2_t, n_req, cfg.top_ratio, seed=seeds[P] + np.uint64(1),
                                    backend=cfg.backend)
        Q1, Q2, drawn2 = m2.p1.cpu().numpy(), m2.p2.cpu().numpy(), m2.mask.cpu().numpy().astype(bool)
        timer.add("resample", time.perf_counter() - t0, P)
        for j, b in enumerate(P):
            t0 = time.perf_counter()
            q1, q2 = Q1[j][drawn2[j]], Q2[j][drawn2[j]]
            R, t = Rs[b], ts[b]
            tri = triangulate_midpoint(torch.from_numpy(q1)[None], torch.from_numpy(q2)[None], torch.from_numpy(K)[None],
                                       torch.from_numpy(R)[None], torch.from_numpy(t)[None], backend=cfg.backend).pair(0)
            v = tri.valid
            maps = dict(inlier_map=m_r_np[j], F=F_pose[j], resampled=(Q1[j], Q2[j], drawn2[j]))
            if not v.any() or v.sum() < 0.5 * len(v):
                # Most points behind a camera or on near-parallel rays: the pose is not trustworthy;
                # the rotation-only model is the safer estimate of what happened.
                results[b] = PairResult(R_rot[b], np.zeros(3), DEGENERATE, **common[b], **maps)
            else:
                cos_par = tri.ray_cos[v]  # the cosine of the parallax angle of each match
                results[b] = PairResult(R, t, None, n_triangulated=int(v.sum()), p1=q1[v], p2=q2[v],
                                        depth1=tri.depth1[v], cos_parallax=cos_par, rigid_score=score2[j], **common[b],
                                        **maps)
            timer.add("triangulate", time.perf_counter() - t0, [b])

    for b, r in enumerate(results):
        r.timings = timings[b]
    return results


@dataclass
class TwoView:
    """:func:`two_view`'s results as ``B``-batched tensors on one device (the depth training's form).

    Attributes:
        R: ``[B,3,3]`` float64 and t: ``[B,3]`` unit: ``X_2 = R X_1 + t`` (where not ok a placeholder,
            identity and ``t = (0, 0, 1)``: finite and with a baseline, so masked-out losses stay finite).
        ok: ``[B]`` bool: the pair was posed (no fallback).
        F: ``[B,3,3]`` the fundamental matrix M_r was computed with, ``x2^T F x1 = 0`` (0 where not posed).
        occ: ``[B,1,H,W]`` M_o.
        rigid: ``[B,1,H,W]`` M_r under the pose (0 where not posed).
        p1, p2: ``[B,N,2]`` float64 matches re-sampled from M_r * M_s * M_o (0 where not drawn: finite,
            so that no NaN reaches a loss's gradient through a masked-out match).
        drawn: ``[B,N]`` bool.
        n_inliers: ``[B]`` RANSAC inliers.
    """

    R: torch.Tensor
    t: torch.Tensor
    ok: torch.Tensor
    F: torch.Tensor
    occ: torch.Tensor
    rigid: torch.Tensor
    p1: torch.Tensor
    p2: torch.Tensor
    drawn: torch.Tensor
    n_inliers: torch.Tensor


@torch.no_grad()
def two_view_tensors(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, K: torch.Tensor, seeds,
                     params: TwoViewParams | None = None) -> TwoView:
    """:func:`two_view` on ``flow_fwd, flow_bwd [B,2,H,W]`` with ``K [B,3,3]`` (one K per pair),
    as a :class:`TwoView` on the flows' device.  ``seeds``: ``B`` integers."""
    if flow_fwd.ndim != 4 or flow_fwd.shape[1] != 2 or flow_bwd.shape != flow_fwd.shape:
        raise ValueError(f"expected flows [B,2,H,W], got {tuple(flow_fwd.shape)} and {tuple(flow_bwd.shape)}")
    B, _, H, W = flow_fwd.shape
    if K.shape != (B, 3, 3):
        raise ValueError(f"expected K [B,3,3] for B={B}, got {tuple(K.shape)}")
    p = TwoViewParams() if params is None else params
    seeds = np.broadcast_to(np.asarray(seeds, np.int64), (B,))
    Kn = K.detach().to("cpu", torch.float64).numpy()
    dev = flow_fwd.device
    res = []
    for b in range(B):  # the pairs may have different K; each pair's result does not depend on the batch
        res += two_view(flow_fwd[b:b + 1], flow_bwd[b:b + 1], Kn[b], seeds[b:b + 1], p, dev)
    n = p.n_matches
    zero = np.zeros((n, 2))
    none = (zero, zero, np.zeros(n, bool))
    zmap = np.zeros((H, W), np.float32)

    def stack(get, dtype=None):
        return torch.from_numpy(np.stack([np.asarray(get(r), dtype) for r in res])).to(dev)

    ok = stack(lambda r: r.fallback is None, bool)
    return TwoView(R=stack(lambda r: r.R if r.fallback is None else np.eye(3), np.float64),
                   t=stack(lambda r: r.t if r.fallback is None else np.array([0.0, 0.0, 1.0]), np.float64), ok=ok,
                   F=stack(lambda r: r.F if r.fallback is None else np.zeros((3, 3)), np.float64),
                   occ=stack(lambda r: r.occ if r.occ is not None else zmap, np.float32)[:, None],
                   rigid=stack(lambda r: r.inlier_map if r.fallback is None else zmap, np.float32)[:, None],
                   p1=stack(lambda r: np.nan_to_num((r.resampled if r.fallback is None else none)[0], nan=0.0), np.float64),
                   p2=stack(lambda r: np.nan_to_num((r.resampled if r.fallback is None else none)[1], nan=0.0), np.float64),
                   drawn=stack(lambda r: (r.resampled if r.fallback is None else none)[2], bool),
                   n_inliers=stack(lambda r: r.n_inliers, np.int64))
