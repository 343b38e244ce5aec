"""One pair (or a small batch) of NumPy arrays in and out of the public geometry API, for the tests.

Each function calls :mod:`vo_app.geometry` (the kernels, or the NumPy reference with
``backend="reference"``) on tensors made from the arrays; the reference functions the tests
compare against are re-exported from ``vo_app.geometry._reference``.
"""
from __future__ import annotations

import numpy as np
import torch

from vo_app import geometry as _api
from vo_app.geometry import _ext  # noqa: F401
from vo_app.geometry._reference.essential import PoseFromF
from vo_app.geometry._reference.flow_masks import forward_backward, match_score, occlusion_mask  # noqa: F401
from vo_app.geometry._reference.fundamental import eight_point, epipolar_line_distance  # noqa: F401
from vo_app.geometry._reference.inlier_map import epipolar_distance_map, inlier_score_map  # noqa: F401
from vo_app.geometry.epipolar import fundamental_from_pose, sampson_distance  # noqa: F401
from vo_app.geometry.flow_sample import pixel_grid, sample_flow  # noqa: F401
from vo_app.geometry import se3  # noqa: F401
from vo_app.geometry.rotation_only import fit_rotation  # noqa: F401
from vo_app.geometry.scale import robust_ratio  # noqa: F401
from vo_app.geometry.se3 import interpolate, inverse, make_pose, rotation_angle  # noqa: F401


def _t(x) -> torch.Tensor:
    return torch.from_numpy(np.array(x, np.float64))


def sample_matches(flow, score, n, ratio, seed, backend="auto"):
    """``flow [H,W,2]``, ``score [H,W]`` -> drawn ``p1 [M,2]``, ``p2 [M,2]`` and the candidate count."""
    fl = torch.from_numpy(np.ascontiguousarray(flow, np.float32)).permute(2, 0, 1)[None]
    m = _api.sample_matches(fl, torch.from_numpy(np.ascontiguousarray(score, np.float32))[None], n, ratio, seed,
                            backend=backend)
    d = m.mask[0].numpy()
    return m.p1[0].numpy()[d], m.p2[0].numpy()[d], int(m.count[0])


def ransac_fundamental(p1, p2, *, threshold=0.1, confidence=0.99, max_iters=1000, seed=0, backend="auto"):
    """``p1, p2 [B,N,2]`` -> ``F [B,3,3], inliers [B,N], ok [B]`` (no planar check)."""
    r = _api.ransac_fundamental(_t(p1), _t(p2), threshold=threshold, confidence=confidence, max_iters=max_iters,
                                seed=seed, check_planar=False, backend=backend)
    return r.F.numpy(), r.inliers.numpy(), r.ok.numpy()


def pose_from_fundamental(F, K, p1, p2, mask=None, backend="auto") -> PoseFromF:
    m = None if mask is None else torch.from_numpy(np.asarray(mask, bool))
    R, t, nf, nfa = _api.pose_from_fundamental(_t(F), _t(K), _t(p1), _t(p2), m, backend=backend)
    return PoseFromF(R.numpy(), t.numpy(), nf.numpy(), nfa.numpy())


def refine_pose(p1, p2, K, R, t, *, huber=0.5, iters=10, backend="auto"):
    """One pair: ``p1, p2 [N,2]`` -> ``R, t (unit), rms``."""
    Ro, to, rms = _api.refine_pose(_t(p1)[None], _t(p2)[None], _t(K)[None], _t(R)[None], _t(t)[None], huber=huber,
                                   iters=iters, backend=backend)
    return Ro[0].numpy(), to[0].numpy(), float(rms[0])


def triangulate_midpoint(p1, p2, K, R, t, cos_threshold=1e-3, backend="auto"):
    """One pair ``p1, p2 [N,2]`` (NumPy :class:`Triangulated`) or ``[B,N,2]`` with per-pair or shared K, R, t."""
    p1, p2 = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    one = p1.ndim == 2
    if one:
        p1, p2 = p1[None], p2[None]
    B = p1.shape[0]
    K = np.broadcast_to(np.asarray(K, np.float64), (B, 3, 3))
    R = np.broadcast_to(np.asarray(R, np.float64), (B, 3, 3))
    t = np.broadcast_to(np.asarray(t, np.float64), (B, 3))
    tri = _api.triangulate_midpoint(_t(p1), _t(p2), _t(K), _t(R), _t(t), cos_threshold, backend=backend)
    if one:
        return tri.pair(0)
    return _api.Triangulated(*(x.numpy() for x in (tri.points, tri.depth1, tri.depth2, tri.valid, tri.cos_angle,
                                                     tri.ray_cos)))
