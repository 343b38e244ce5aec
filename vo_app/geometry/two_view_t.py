"""Relative pose of flow pairs, batched: TrianFlow's steps 3-7 on torch tensors.

``two_view_t(flow_fwd, flow_bwd, K)`` runs, per pair: the masks (``flow_scores_t.py``), the
top-20%-then-random match sampling and the normalized 8-point RANSAC of the C++/CUDA core
(``batched.py``), E -> [R|t] with the cheirality vote, the inlier score map M_r, and the
re-sampling of matches from M_r * M_s * M_o for triangulation.  Nothing here is differentiable
(the pose comes from F, as in the paper).  The depth training stage calls it; ``vo-run`` does not:
its per-pair driver is ``vo_app/pipeline/pair.py`` (``docs/architecture.md``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import batched
from .flow_scores_t import flow_scores_t


@dataclass
class TwoView:
    """Per pair (``B`` of them):

    Attributes:
        R: ``[B,3,3]`` float64 and t: ``[B,3]`` unit: ``X_2 = R X_1 + t``.
        ok: ``[B]`` bool: RANSAC and the cheirality vote succeeded (enough matches and inliers).
        F: ``[B,3,3]`` fundamental matrix, ``x2^T F x1 = 0``.
        occ, inside: ``[B,1,H,W]`` M_o and the in-image mask of the forward flow.
        rigid: ``[B,1,H,W]`` M_r, the epipolar inlier score of every flow match.
        p1, p2: ``[B,N,2]`` float64 matches re-sampled from M_r * M_s * M_o (NaN where not drawn).
        drawn: ``[B,N]`` bool.
        n_inliers: ``[B]`` RANSAC inliers.
    """

    R: torch.Tensor
    t: torch.Tensor
    ok: torch.Tensor
    F: torch.Tensor
    occ: torch.Tensor
    inside: torch.Tensor
    rigid: torch.Tensor
    p1: torch.Tensor
    p2: torch.Tensor
    drawn: torch.Tensor
    n_inliers: torch.Tensor


@torch.no_grad()
def two_view_t(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, K: torch.Tensor, *, n: int = 6000, ratio: float = 0.2,
               seed=0, threshold: float = 0.1, confidence: float = 0.99, epi_threshold: float = 0.5,
               min_inliers: int = 100) -> TwoView:
    """Pose from ``flow_fwd, flow_bwd [B,2,H,W]`` and ``K [B,3,3]`` (pixels of the flow's size).

    ``seed``: int or ``[B]`` for the sampling and RANSAC (same seed, same result).
    """
    if K.shape != (flow_fwd.shape[0], 3, 3):
        raise ValueError(f"expected K [B,3,3] for B={flow_fwd.shape[0]}, got {tuple(K.shape)}")
    sc = flow_scores_t(flow_fwd, flow_bwd)
    m = batched.sample_matches(flow_fwd, sc["score"], n, ratio, seed)
    res = batched.ransac_fundamental(m.p1, m.p2, threshold=threshold, confidence=confidence, seed=seed,
                                     check_planar=False)
    Kd = K.to(m.p1.device, torch.float64)
    R, t, n_front, _ = batched.pose_from_fundamental(res.F, Kd, m.p1, m.p2, res.inliers)
    _, rigid = batched.epipolar_score_map(flow_fwd, res.F.to(flow_fwd.device), epi_threshold)
    rigid = rigid.unsqueeze(1).to(flow_fwd.device)
    score2 = sc["score"] * rigid[:, 0]
    m2 = batched.sample_matches(flow_fwd, score2, n, ratio, seed)
    dev = flow_fwd.device
    ok = res.ok.to(dev) & (res.n_inliers.to(dev) >= min_inliers) & (n_front.to(dev) >= min_inliers)
    ok &= torch.isfinite(R.to(dev)).all(-1).all(-1) & torch.isfinite(t.to(dev)).all(-1)
    return TwoView(R=R.to(dev), t=t.to(dev), ok=ok, F=res.F.to(dev), occ=sc["occ"], inside=sc["inside"], rigid=rigid,
                   p1=m2.p1.to(dev), p2=m2.p2.to(dev), drawn=m2.mask.to(dev), n_inliers=res.n_inliers.to(dev))
