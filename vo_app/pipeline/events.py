"""The per-frame event that ``run_odometry(on_frame=...)`` emits (NumPy only, cheap): the run's
own event interface; the viewer (``vo_app/viewer``) and ``map.ply`` subscribe through ``on_frame``.

An event is a dict:

* ``index``: frame index in the sequence;
* ``pose``: ``[4,4]`` camera-to-world of that frame;
* ``points_world``: ``[M,3]`` float32 points triangulated in the pair's reference
  frame, in world coordinates, or None (first frame, fallbacks);
* ``colors``: ``[M,3]`` float32 in [0,1], sampled from the reference image, or None.

The pair geometry gives ``p1 [M,2]`` (pixels of the reference frame) and
``depth1 [M]`` at unit baseline; ``scale`` is the norm of the chained translation,
so ``X_world = pose_ref @ (depth1 * scale * K^-1 [p1, 1])``.
"""
from __future__ import annotations

import numpy as np

#: Points farther than this many baselines have too little parallax to be worth drawing (40 drew a
#: fan of scattered far points on the KITTI 06 clip; 20 keeps 63k of its 116k map points).
MAX_DEPTH_BASELINES = 20.0


def _sample_colors(image: np.ndarray, p: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    u = np.clip(np.rint(p[:, 0]).astype(np.int64), 0, w - 1)
    v = np.clip(np.rint(p[:, 1]).astype(np.int64), 0, h - 1)
    c = image[v, u].astype(np.float32)
    if c.ndim == 1:  # gray image
        c = np.repeat(c[:, None], 3, axis=1)
    if image.dtype == np.uint8:
        c /= 255.0
    return np.clip(c, 0.0, 1.0)


def pair_points(p1: np.ndarray, depth1: np.ndarray, scale: float, K: np.ndarray, pose_ref: np.ndarray,
                image: np.ndarray | None = None, max_depth: float = MAX_DEPTH_BASELINES):
    """World points ``[M,3]`` (and colours ``[M,3]`` from ``image``) of one pair's triangulation.

    Args:
        p1: ``[N,2]`` pixels of the reference frame; depth1: ``[N]`` depths at unit baseline.
        scale: translation norm of the pair; K: ``[3,3]``; pose_ref: ``[4,4]`` camera-to-world.
        image: ``[H,W]`` or ``[H,W,3]`` reference image in [0,1] (or uint8), for colours.
        max_depth: keep points with ``0 < depth1 < max_depth`` (baselines).
    """
    p1 = np.asarray(p1, np.float64).reshape(-1, 2)
    d = np.asarray(depth1, np.float64).reshape(-1)
    ok = np.isfinite(d) & (d > 0) & (d < max_depth) & np.isfinite(p1).all(axis=1)
    p1, d = p1[ok], d[ok] * float(scale)
    rays = np.concatenate([p1, np.ones((len(p1), 1))], axis=1) @ np.linalg.inv(K).T
    cam = rays * d[:, None]
    world = cam @ pose_ref[:3, :3].T + pose_ref[:3, 3]
    colors = None if image is None else _sample_colors(image, p1)
    return world.astype(np.float32), colors


def frame_event(index: int, pose: np.ndarray, res=None, scale=None, ref=None, K=None) -> dict:
    """The ``on_frame`` dict of a frame; ``res``/``scale``/``ref=(frame, pose)``/``K`` give its points."""
    ev = {"index": int(index), "pose": np.array(pose, np.float64), "points_world": None, "colors": None}
    if res is None or res.fallback is not None or res.p1 is None or res.depth1 is None:
        return ev
    if scale is None or not np.isfinite(scale) or scale <= 0:
        return ev
    ref_frame, ref_pose = ref
    pts, cols = pair_points(res.p1, res.depth1, scale, K, ref_pose, ref_frame.image)
    if len(pts):
        ev["points_world"], ev["colors"] = pts, cols
    return ev
