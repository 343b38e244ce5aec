"""Reference mask-weighted match sampling (NumPy): top ``ratio`` of pixels by score, then ``n`` at random.

The C++/CUDA kernel in ``csrc/`` implements the same rule; this module is its test oracle.
The candidate set is identical (ties broken by lower pixel index, ``k = floor(ratio*HW + 0.5)``);
the random draw within it uses NumPy's generator, so only its distribution matches the kernel's.
"""
from __future__ import annotations

import numpy as np


def top_count(hw: int, ratio: float, positive: int) -> int:
    """Number of candidates kept: ``round-half-up(ratio * hw)``, at most the positive scores."""
    return min(int(np.floor(ratio * hw + 0.5)), positive)


def top_ratio_candidates(score: np.ndarray, ratio: float) -> np.ndarray:
    """Flat indices (ascending) of the top ``ratio`` of pixels of ``score [H,W]``; only scores > 0 qualify."""
    flat = np.nan_to_num(score.ravel().astype(np.float64), nan=0.0)
    positive = np.flatnonzero(flat > 0)
    k = top_count(flat.size, ratio, positive.size)
    if k <= 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((positive, -flat[positive]))  # score descending, index ascending
    return np.sort(positive[order[:k]])


def sample_matches_ref(flow: np.ndarray, score: np.ndarray, n: int, ratio: float, rng: np.random.Generator):
    """Sample ``n`` matches from ``flow [H,W,2]`` by ``score [H,W]``.

    Returns ``p1 [M,2]``, ``p2 [M,2]`` (float64 pixel coordinates, ``M = min(n, candidates)``)
    and the number of candidates.
    """
    h, w = score.shape
    cand = top_ratio_candidates(score, ratio)
    count = int(cand.size)
    if cand.size > n:
        cand = rng.choice(cand, n, replace=False)
    ys, xs = np.divmod(cand, w)
    p1 = np.stack([xs, ys], -1).astype(np.float64)
    p2 = p1 + flow.reshape(-1, 2)[cand].astype(np.float64)
    return p1, p2, count
