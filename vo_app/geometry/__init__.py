"""Two-view geometry: the Python API over the C++/CUDA core, with NumPy reference code.

Shapes are documented per function; batched functions take a leading ``B``.
"""
from __future__ import annotations

import numpy as np

from .essential import PoseFromF, decompose_essential, essential_from_fundamental
from .essential import pose_from_fundamental as pose_from_fundamental_ref
from .flow_masks import forward_backward, match_score, occlusion_mask, pixel_grid, sample_flow
from .fundamental import eight_point, epipolar_line_distance, ransac_fundamental as ransac_fundamental_ref, sampson_distance
from .inlier_map import epipolar_distance_map, inlier_score_map
from .refine import fundamental_from_pose
from .refine import refine_pose as refine_pose_ref
from .rotation_only import fit_rotation
from .sampling_ref import sample_matches_ref
from .scale import robust_ratio
from .se3 import interpolate, inverse, make_pose, rotation_angle
from .triangulation import Triangulated, pixel_rays, ray_cosine, triangulate_midpoint
from . import _ext


def sample_matches(flow: np.ndarray, score: np.ndarray, n: int, ratio: float, seed: int, backend: str = "auto"):
    """Top-``ratio`` then random-``n`` match sampling of one flow field.

    Args:
        flow: ``[H,W,2]`` float32; score: ``[H,W]`` float32 (>0 for usable pixels).
    Returns:
        ``p1 [M,2]``, ``p2 [M,2]`` float64 with ``M = min(n, candidates)``, and the candidate count.
    """
    if _ext.use_cpp(backend):
        return _ext.sample_matches(flow, score, n, ratio, seed)
    return sample_matches_ref(flow, score, n, ratio, np.random.default_rng(int(seed) & _ext._U64))


def ransac_fundamental(p1, p2, *, threshold=0.1, confidence=0.99, max_iters=1000, seed=0, backend="auto"):
    """Batched normalized 8-point RANSAC: ``p1, p2 [B,N,2]`` -> ``F [B,3,3], inliers [B,N], ok [B]``."""
    if _ext.use_cpp(backend) and _ext.has("ransac_fundamental_cpu"):
        F, inl, ok, _ = _ext.ransac_fundamental(p1, p2, threshold, confidence, max_iters, seed)
        return F, inl, ok
    return ransac_fundamental_ref(p1, p2, threshold=threshold, confidence=confidence, max_iters=max_iters,
                                  rng=np.random.default_rng(int(seed) & _ext._U64))


def pose_from_fundamental(F, K, p1, p2, mask=None, backend: str = "auto") -> PoseFromF:
    """E = K^T F K, four ``[R|t]``, mid-point cheirality vote: ``F, K [B,3,3]``, ``p1, p2 [B,N,2]``, ``mask [B,N]``."""
    if _ext.use_cpp(backend) and _ext.has("pose_from_fundamental_cpu"):
        R, t, nf, nfa = _ext._core.pose_from_fundamental_cpu(
            np.ascontiguousarray(F, np.float64), np.ascontiguousarray(K, np.float64), np.ascontiguousarray(p1, np.float64),
            np.ascontiguousarray(p2, np.float64), None if mask is None else np.ascontiguousarray(mask, np.uint8))
        return PoseFromF(R, t, nf, nfa)
    return pose_from_fundamental_ref(F, K, p1, p2, mask)


def epipolar_score(F: np.ndarray, flow: np.ndarray, threshold: float = 0.5, backend: str = "auto") -> np.ndarray:
    """Inlier score map ``M_r [H,W]`` of a dense flow ``[H,W,2]`` under ``F [3,3]``."""
    if _ext.use_cpp(backend) and _ext.has("epipolar_score_map_cpu"):
        _, s = _ext._core.epipolar_score_map_cpu(np.ascontiguousarray(flow, np.float32)[None],
                                                 np.ascontiguousarray(F, np.float64)[None], float(threshold))
        return s[0]
    return inlier_score_map(epipolar_distance_map(F, flow), threshold)


def refine_pose(p1, p2, K, R, t, *, huber: float = 0.5, iters: int = 10, backend: str = "auto"):
    """Robust Gauss-Newton refinement of ``(R, t)`` on matches ``p1, p2 [N,2]``: returns ``R, t (unit), rms``."""
    if _ext.use_cpp(backend) and _ext.has("refine_pose_cpu"):
        Ro, to, rms = _ext._core.refine_pose_cpu(
            np.ascontiguousarray(p1, np.float64)[None], np.ascontiguousarray(p2, np.float64)[None], None,
            np.ascontiguousarray(K, np.float64)[None], np.ascontiguousarray(R, np.float64)[None],
            np.ascontiguousarray(t, np.float64)[None], float(huber), int(iters))
        return Ro[0], to[0], float(rms[0])
    return refine_pose_ref(p1, p2, K, R, t, huber=huber, iters=iters)
