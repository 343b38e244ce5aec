"""Metric/consistent scale of a unit-norm translation from depths (robust ratios)."""
from __future__ import annotations

import numpy as np


def weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    """Median of ``x [N]`` under non-negative weights ``w [N]``."""
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, 0.5 * cw[-1])])


def robust_ratio(numer: np.ndarray, denom: np.ndarray, min_count: int = 20,
                 weights: np.ndarray | None = None) -> tuple[float, int]:
    """Robust ``numer/denom`` ratio: the (weighted) median of log-ratios after a 3-MAD outlier cut.

    Args:
        numer, denom: ``[N]`` positive depths (non-positive or non-finite entries are ignored).
        weights: optional ``[N]`` confidence of each log-ratio (e.g. inverse variance).
    Returns:
        ``(ratio, n_used)``; ``ratio`` is NaN when fewer than ``min_count`` pairs are usable.
    """
    ok = np.isfinite(numer) & np.isfinite(denom) & (numer > 0) & (denom > 0)
    if weights is not None:
        ok &= np.isfinite(weights) & (weights > 0)
    if ok.sum() < min_count:
        return float("nan"), int(ok.sum())
    lr = np.log(numer[ok]) - np.log(denom[ok])
    w = np.ones_like(lr) if weights is None else weights[ok]
    med = weighted_median(lr, w)
    mad = 1.4826 * weighted_median(np.abs(lr - med), w) + 1e-9
    keep = np.abs(lr - med) <= 3.0 * mad
    if keep.sum() < min_count:
        return float(np.exp(med)), int(ok.sum())
    return float(np.exp(weighted_median(lr[keep], w[keep]))), int(keep.sum())
