"""Pose of frame 2 against the depth of frame 1 from flow matches: PnP (TrianFlow's fallback).

Used where F cannot give the pose (a degenerate F, too little parallax: pure rotation, a stop,
a handheld jitter) and the reference frame has depth, from the depth network or from RGB-D
(``pipeline/odometry.py``, docs/architecture.md).  The matched pixels of frame 1 are
back-projected with their depth; RANSAC PnP (OpenCV's EPnP inside, reprojection threshold in
pixels) gives the pose, which Levenberg-Marquardt refines on the inliers.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .se3 import make_pose


@dataclass
class PnPResult:
    """``T [4,4]`` maps camera-1 points into camera 2 (``X_2 = R X_1 + t``, metric like the depth);
    ``inliers [N]`` bool over the input matches; ``ok`` False when the pose could not be found."""

    T: np.ndarray
    inliers: np.ndarray
    ok: bool
    rmse_px: float = float("nan")


def backproject(p: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels ``p [N,2]`` with depths ``depth [N]`` (along the optical axis) -> camera points ``[N,3]``."""
    p = np.asarray(p, np.float64)
    depth = np.asarray(depth, np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or depth.shape != (p.shape[0],):
        raise ValueError(f"expected p [N,2] and depth [N], got {p.shape} and {depth.shape}")
    x = (p[:, 0] - K[0, 2]) / K[0, 0]
    y = (p[:, 1] - K[1, 2]) / K[1, 1]
    return np.stack([x * depth, y * depth, depth], 1)


def pose_pnp(p1: np.ndarray, p2: np.ndarray, depth1: np.ndarray, K: np.ndarray, *, threshold_px: float = 1.0,
             min_inliers: int = 30, iterations: int = 200, seed: int = 0) -> PnPResult:
    """Pose of frame 2 from matches ``p1 -> p2 [N,2]`` and the depth ``depth1 [N]`` at ``p1``.

    Matches with a non-finite or non-positive depth are left out.  ``ok`` is False (and ``T`` the
    identity) with fewer than ``min_inliers`` inliers or a non-finite result.
    """
    p1 = np.asarray(p1, np.float64)
    p2 = np.asarray(p2, np.float64)
    if p2.shape != p1.shape:
        raise ValueError(f"p1 {p1.shape} and p2 {p2.shape} differ")
    n = p1.shape[0]
    use = np.isfinite(depth1) & (np.asarray(depth1) > 0) & np.isfinite(p2).all(1)
    idx = np.flatnonzero(use)
    fail = PnPResult(np.eye(4), np.zeros(n, bool), False)
    if len(idx) < max(6, min_inliers):
        return fail
    X = backproject(p1[idx], np.asarray(depth1, np.float64)[idx], K)
    img = p2[idx]
    cv2.setRNGSeed(int(seed) & 0x7FFFFFFF)
    ok, rvec, tvec, inl = cv2.solvePnPRansac(X, img, np.asarray(K, np.float64), None, iterationsCount=iterations,
                                             reprojectionError=float(threshold_px), confidence=0.999,
                                             flags=cv2.SOLVEPNP_EPNP)
    if not ok or inl is None or len(inl) < min_inliers:
        return fail
    inl = inl.ravel()
    rvec, tvec = cv2.solvePnPRefineLM(X[inl], img[inl], np.asarray(K, np.float64), None, rvec, tvec)
    R, _ = cv2.Rodrigues(rvec)
    T = make_pose(R, tvec.ravel())
    if not np.isfinite(T).all():
        return fail
    proj, _ = cv2.projectPoints(X[inl], rvec, tvec, np.asarray(K, np.float64), None)
    rmse = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img[inl]) ** 2, 1))))
    mask = np.zeros(n, bool)
    mask[idx[inl]] = True
    return PnPResult(T, mask, True, rmse)
