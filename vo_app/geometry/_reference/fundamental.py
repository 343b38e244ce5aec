"""Reference (NumPy, float64) fundamental-matrix estimation.

This is the oracle for the C++/CUDA core: clear rather than fast.  All
functions are batched over a leading dimension ``B``.

Convention: ``x2^T F x1 = 0`` for homogeneous pixel coordinates ``x1`` in the
first image and ``x2`` in the second.
"""
from __future__ import annotations

import numpy as np

from ..epipolar import sampson_distance


def _check_points(p1: np.ndarray, p2: np.ndarray) -> None:
    if p1.ndim != 3 or p1.shape[-1] != 2 or p1.shape != p2.shape:
        raise ValueError(f"expected p1, p2 of shape [B,N,2], got {p1.shape} and {p2.shape}")


def normalize_points(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hartley normalization of ``p [B,N,2]`` (optionally weighted by nothing).

    Returns the normalized points ``[B,N,2]`` (centroid 0, mean distance sqrt(2))
    and the transforms ``T [B,3,3]`` with ``x_n = T x``.
    """
    c = p.mean(axis=1, keepdims=True)
    d = np.linalg.norm(p - c, axis=-1).mean(axis=1)
    s = np.sqrt(2.0) / np.maximum(d, 1e-12)
    T = np.zeros((p.shape[0], 3, 3))
    T[:, 0, 0] = s
    T[:, 1, 1] = s
    T[:, 0, 2] = -s * c[:, 0, 0]
    T[:, 1, 2] = -s * c[:, 0, 1]
    T[:, 2, 2] = 1.0
    return (p - c) * s[:, None, None], T


def eight_point(p1: np.ndarray, p2: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Normalized (weighted) 8-point algorithm with rank-2 enforcement.

    Args:
        p1, p2: ``[B,N,2]`` pixel matches, N >= 8.
        weights: optional ``[B,N]`` non-negative weights.
    Returns:
        ``F [B,3,3]`` with unit Frobenius norm.
    """
    _check_points(p1, p2)
    n1, T1 = normalize_points(p1)
    n2, T2 = normalize_points(p2)
    x1, y1 = n1[..., 0], n1[..., 1]
    x2, y2 = n2[..., 0], n2[..., 1]
    one = np.ones_like(x1)
    A = np.stack([x2 * x1, x2 * y1, x2, y2 * x1, y2 * y1, y2, x1, y1, one], axis=-1)
    if weights is not None:
        A = A * weights[..., None]
    _, V = np.linalg.eigh(np.swapaxes(A, 1, 2) @ A)
    F = V[..., 0].reshape(-1, 3, 3)
    U, S, Vt = np.linalg.svd(F)
    S[:, 2] = 0.0
    F = U @ (S[:, :, None] * Vt)
    F = np.swapaxes(T2, 1, 2) @ F @ T1
    return F / np.linalg.norm(F, axis=(1, 2), keepdims=True)


def epipolar_line_distance(F: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Distance in pixels from ``p2`` to the epipolar line ``F p1``: ``[B,N]``."""
    x1 = np.concatenate([p1, np.ones(p1.shape[:-1] + (1,))], -1)
    x2 = np.concatenate([p2, np.ones(p2.shape[:-1] + (1,))], -1)
    l2 = x1 @ np.swapaxes(F, -1, -2)
    return np.abs(np.sum(x2 * l2, -1)) / np.maximum(np.hypot(l2[..., 0], l2[..., 1]), 1e-30)


def ransac_iterations(inlier_ratio: float, confidence: float, sample_size: int = 8) -> float:
    """Number of draws needed to hit one all-inlier sample with probability ``confidence``."""
    w = min(max(inlier_ratio, 1e-9), 1.0)
    p_good = w**sample_size
    if p_good >= 1.0 - 1e-12:
        return 1.0
    return float(np.log(1.0 - confidence) / np.log1p(-p_good))


def ransac_fundamental(
    p1: np.ndarray,
    p2: np.ndarray,
    *,
    threshold: float = 0.1,
    confidence: float = 0.99,
    max_iters: int = 1000,
    chunk: int = 128,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched RANSAC over normalized 8-point hypotheses, then a refit on all inliers.

    Args:
        p1, p2: ``[B,N,2]`` matches.
        threshold: Sampson distance (pixels) under which a match is an inlier.
        confidence: desired probability of drawing one all-inlier sample.
        max_iters: hard cap on the number of hypotheses per batch item.
    Returns:
        ``F [B,3,3]``, ``inliers [B,N]`` (bool), ``ok [B]`` (False: fewer than
        8 usable matches, or no hypothesis with 8+ inliers).
    """
    _check_points(p1, p2)
    rng = rng or np.random.default_rng(0)
    B, N, _ = p1.shape
    F_out = np.zeros((B, 3, 3))
    inl_out = np.zeros((B, N), bool)
    ok = np.zeros(B, bool)
    for b in range(B):
        finite = np.isfinite(p1[b]).all(-1) & np.isfinite(p2[b]).all(-1)
        idx = np.flatnonzero(finite)
        if idx.size < 8:
            continue
        q1, q2 = p1[b, idx][None], p2[b, idx][None]
        best_count, best_F = -1, None
        needed, done = float(max_iters), 0
        while done < min(needed, max_iters):
            h = int(min(chunk, max_iters - done))
            samples = np.stack([rng.choice(idx.size, 8, replace=False) for _ in range(h)])
            F = eight_point(q1[0][samples], q2[0][samples])  # [h,3,3]
            d = sampson_distance(F[None], q1, q2)[0]  # [h,n]
            counts = (d < threshold).sum(-1)
            k = int(np.argmax(counts))
            if counts[k] > best_count:
                best_count, best_F = int(counts[k]), F[k]
                needed = ransac_iterations(best_count / idx.size, confidence)
            done += h
        if best_F is None or best_count < 8:
            continue
        inl = sampson_distance(best_F[None], q1, q2)[0] < threshold
        if inl.sum() >= 8:
            F_ref = eight_point(q1[:, inl], q2[:, inl])[0]
            inl_ref = sampson_distance(F_ref[None], q1, q2)[0] < threshold
            if inl_ref.sum() >= inl.sum():
                best_F, inl = F_ref, inl_ref
        F_out[b] = best_F
        inl_out[b, idx] = inl
        ok[b] = inl.sum() >= 8
    return F_out, inl_out, ok
