"""Two-view geometry: the Python API over the C++/CUDA core, with NumPy reference code.

Shapes are documented per function; batched functions take a leading ``B``.
"""
from __future__ import annotations

import numpy as np

from .essential import decompose_essential, essential_from_fundamental, pose_from_fundamental
from .flow_masks import forward_backward, match_score, occlusion_mask, pixel_grid, sample_flow
from .fundamental import eight_point, epipolar_line_distance, ransac_fundamental as ransac_fundamental_ref, sampson_distance
from .inlier_map import epipolar_distance_map, inlier_score_map
from .refine import fundamental_from_pose, refine_pose
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
