"""Reference mask-weighted match sampling (NumPy): top ``ratio`` of pixels by score, then ``n`` at random.

The C++/CUDA kernel in ``csrc/`` implements the same rule; this module is its test oracle.
"""
from __future__ import annotations

import numpy as np


def top_ratio_candidates(score: np.ndarray, ratio: float) -> np.ndarray:
    """Flat indices of the top ``ratio`` of pixels of ``score [H,W]`` (score > 0 only), any order."""
    flat = score.ravel()
    k = int(round(ratio * flat.size))
    positive = int((flat > 0).sum())
    k = min(k, positive)
    if k <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-flat, k - 1)[:k]
    return np.sort(part)


def sample_matches_ref(flow: np.ndarray, score: np.ndarray, n: int, ratio: float, rng: np.random.Generator):
    """Sample ``n`` matches from ``flow [H,W,2]`` by ``score [H,W]``.

    Returns ``p1 [n,2]``, ``p2 [n,2]`` (float64 pixel coordinates) and the count of
    candidates; with fewer than ``n`` candidates all of them are returned.
    """
    h, w = score.shape
    cand = top_ratio_candidates(score, ratio)
    if cand.size > n:
        cand = rng.choice(cand, n, replace=False)
    ys, xs = np.divmod(cand, w)
    p1 = np.stack([xs, ys], -1).astype(np.float64)
    p2 = p1 + flow.reshape(-1, 2)[cand].astype(np.float64)
    return p1, p2, int(cand.size)
