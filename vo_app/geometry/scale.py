"""Metric/consistent scale of a unit-norm translation from depths (robust ratios)."""
from __future__ import annotations

import numpy as np


def robust_ratio(numer: np.ndarray, denom: np.ndarray, min_count: int = 20) -> tuple[float, int]:
    """Robust ``numer/denom`` ratio: the median of log-ratios after a 3-MAD outlier cut.

    Args:
        numer, denom: ``[N]`` positive depths (non-positive or non-finite entries are ignored).
    Returns:
        ``(ratio, n_used)``; ``ratio`` is NaN when fewer than ``min_count`` pairs are usable.
    """
    ok = np.isfinite(numer) & np.isfinite(denom) & (numer > 0) & (denom > 0)
    if ok.sum() < min_count:
        return float("nan"), int(ok.sum())
    lr = np.log(numer[ok]) - np.log(denom[ok])
    med = np.median(lr)
    mad = 1.4826 * np.median(np.abs(lr - med)) + 1e-9
    keep = np.abs(lr - med) <= 3.0 * mad
    if keep.sum() < min_count:
        return float(np.exp(med)), int(ok.sum())
    return float(np.exp(np.median(lr[keep]))), int(keep.sum())
