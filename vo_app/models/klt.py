"""Sub-pixel refinement of flow matches with pyramidal Lucas-Kanade.

Dense flow (DIS especially) under-estimates flow magnitudes a little where the image
expands (forward motion), and the error grows with the magnitude.  That bias adds up
in the pair-to-pair scale chain.  A small-window LK step started from the dense flow
removes it on the synthetic renders (median relative magnitude error of DIS medium:
-0.40%; after LK with 9x9 windows: -0.04%; `benchmarks/dis_bias.py`), at the price of
somewhat noisier matches.
"""
from __future__ import annotations

import cv2
import numpy as np

_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 1e-3)


_pool = None
_MIN_SPLIT = 4000  # matches per thread below which splitting does not pay


def _lk(img1, img2, a, b, win):
    out, st, _ = cv2.calcOpticalFlowPyrLK(img1, img2, a, b, winSize=(win, win), maxLevel=1,
                                          flags=cv2.OPTFLOW_USE_INITIAL_FLOW, criteria=_CRITERIA)
    return out, st


def refine_matches(img1: np.ndarray, img2: np.ndarray, p1: np.ndarray, p2: np.ndarray, win: int = 9,
                   max_move: float = 1.5, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Refine matches ``p1 -> p2`` (``[N,2]``) between uint8 gray images ``img1, img2 [H,W]``.

    Returns the refined ``p2 [N,2]`` (float64) and ``ok [N]``: LK converged and moved
    the match by at most ``max_move`` pixels from the dense-flow start.  ``threads=2`` splits
    the matches in two halves refined at the same time (OpenCV's LK keeps about one core busy
    here, and releases the GIL); LK refines each match on its own, so the result is the same.
    """
    global _pool
    if len(p1) == 0:
        return p2.astype(np.float64), np.zeros(0, bool)
    a = np.ascontiguousarray(p1, np.float32).reshape(-1, 1, 2)
    b = np.ascontiguousarray(p2, np.float32).reshape(-1, 1, 2).copy()
    if threads > 1 and len(a) >= 2 * _MIN_SPLIT:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(1, thread_name_prefix="vo-lk")
        h = len(a) // 2
        second = _pool.submit(_lk, img1, img2, a[h:], b[h:], win)
        o1, s1 = _lk(img1, img2, a[:h], b[:h], win)
        o2, s2 = second.result()
        out, st = np.concatenate([o1, o2]), np.concatenate([s1, s2])
    else:
        out, st = _lk(img1, img2, a, b, win)
    out = out.reshape(-1, 2).astype(np.float64)
    ok = (st.ravel() > 0) & np.isfinite(out).all(1) & (np.linalg.norm(out - p2, axis=1) <= max_move)
    return out, ok
