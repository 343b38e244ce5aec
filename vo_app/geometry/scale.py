"""Depth-scale alignment: the robust ratio of two sets of depths, the one rule of run time and training.

The rule (:func:`robust_ratio`, NumPy, the runtime's and the tests' oracle): the log-ratios
``log(numer / denom)`` of the usable pairs, their (weighted) median ``m`` and median absolute
deviation, the pairs within 3 MAD of ``m`` kept as inliers, and the ratio the exponential of the
inliers' (weighted) median.  Fewer than ``min_count`` usable pairs give NaN; fewer than
``min_count`` inliers keep the median ``m`` of all usable pairs.

Run time (``pipeline/scale_chain.py``, ``pipeline/depth_scale.py``): one pair of depth sets at a
time, :func:`robust_ratio`, no torch op.

Training (``train/depth_losses.py``): :func:`robust_ratio_t` is the same rule on a batch of rows
(torch, no gradient; it equals :func:`robust_ratio` row by row, ``tests/test_train_depth.py``), and
:func:`align_scale_t` finishes it differentiably, as TrianFlow does: the closed-form scale ``s``
minimising ``sum (1 - s p / d)^2`` over the rule's inliers (``p`` predicted, ``d`` triangulated
depth).  The selection carries no gradient; ``s`` does, through every inlier.
"""
from __future__ import annotations

import numpy as np
import torch

#: inliers lie within this many (normal-consistent) median absolute deviations of the median
MAD_CUT = 3.0
_MAD_TO_SIGMA = 1.4826
_MAD_FLOOR = 1e-9


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
    mad = _MAD_TO_SIGMA * weighted_median(np.abs(lr - med), w) + _MAD_FLOOR
    keep = np.abs(lr - med) <= MAD_CUT * mad
    if keep.sum() < min_count:
        return float(np.exp(med)), int(ok.sum())
    return float(np.exp(weighted_median(lr[keep], w[keep]))), int(keep.sum())


# ------------------------------------------------------------------ batched torch form (training)
def _weighted_median_t(x: torch.Tensor, w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Row medians ``[B]`` of ``x [B,N]`` under weights ``w [B,N]`` where ``mask [B,N]``
    (:func:`weighted_median` per row); NaN for a row with nothing selected."""
    xs, order = torch.sort(torch.where(mask, x, torch.full_like(x, float("inf"))), dim=-1, stable=True)
    cw = torch.cumsum(torch.where(mask, w, torch.zeros_like(w)).gather(-1, order), dim=-1)
    idx = torch.searchsorted(cw, 0.5 * cw[:, -1:]).clamp_max(x.shape[-1] - 1)
    med = xs.gather(-1, idx)[:, 0]
    return torch.where(mask.any(-1), med, torch.full_like(med, float("nan")))


@torch.no_grad()
def robust_ratio_t(numer: torch.Tensor, denom: torch.Tensor, valid: torch.Tensor, min_count: int = 20,
                   weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`robust_ratio` on each row of ``numer, denom [B,N]`` where ``valid [B,N]`` (no gradient).

    Args:
        weights: optional ``[B,N]`` confidences, as in :func:`robust_ratio`.
    Returns:
        ``ratio [B]`` (NaN for a row with fewer than ``min_count`` usable pairs), ``inliers [B,N]``
        (the pairs the ratio's median was taken over: the 3-MAD inliers, or every usable pair when
        fewer than ``min_count`` are inliers) and ``n_used [B]`` (what :func:`robust_ratio` returns
        as its count).
    """
    if numer.shape != denom.shape or valid.shape != numer.shape or numer.ndim != 2 or (
            weights is not None and weights.shape != numer.shape):
        raise ValueError(f"expected numer, denom, valid (and weights) [B,N], got {tuple(numer.shape)}, "
                         f"{tuple(denom.shape)}, {tuple(valid.shape)}"
                         + ("" if weights is None else f", {tuple(weights.shape)}"))
    ok = valid & torch.isfinite(numer) & torch.isfinite(denom) & (numer > 0) & (denom > 0)
    if weights is not None:
        ok &= torch.isfinite(weights) & (weights > 0)
    if numer.shape[-1] == 0:
        nan = numer.new_full(numer.shape[:1], float("nan"))
        return nan, ok, ok.sum(-1)
    one = torch.ones_like(numer)
    lr = torch.where(ok, torch.log(torch.where(ok, numer, one)) - torch.log(torch.where(ok, denom, one)),
                     torch.zeros_like(numer))
    w = one if weights is None else torch.where(ok, weights, torch.zeros_like(weights))
    med = _weighted_median_t(lr, w, ok)
    dev = (lr - med[:, None]).abs()
    mad = _MAD_TO_SIGMA * _weighted_median_t(dev, w, ok) + _MAD_FLOOR
    keep = ok & (dev <= MAD_CUT * mad[:, None])
    n_ok, n_keep = ok.sum(-1), keep.sum(-1)
    enough = n_keep >= min_count
    centre = torch.where(enough, _weighted_median_t(lr, w, keep), med)
    ratio = torch.where(n_ok >= min_count, torch.exp(centre), torch.full_like(centre, float("nan")))
    return ratio, torch.where(enough[:, None], keep, ok), torch.where(enough, n_keep, n_ok)


def align_scale_t(pred: torch.Tensor, tri: torch.Tensor, valid: torch.Tensor, min_count: int = 20,
                  eps: float = 1e-12) -> torch.Tensor:
    """Scale ``s [B]`` with ``s * pred ~ tri`` from samples ``pred, tri [B,N]`` where ``valid [B,N]``.

    The inliers and the starting ratio ``c`` come from the rule (:func:`robust_ratio_t` of
    ``tri / pred``, no gradient); ``s = c a`` with ``a`` the least-squares minimiser of
    ``sum_inliers (1 - a c pred / tri)^2``, differentiable in ``pred``.  Rows with fewer than
    ``min_count`` usable samples give NaN.
    """
    if pred.shape != tri.shape or valid.shape != pred.shape or pred.ndim != 2:
        raise ValueError(f"expected pred, tri, valid [B,N], got {tuple(pred.shape)}, {tuple(tri.shape)}, "
                         f"{tuple(valid.shape)}")
    c, inliers, _ = robust_ratio_t(tri.detach(), pred.detach(), valid, min_count)
    usable = torch.isfinite(c)
    c = torch.where(usable, c, torch.ones_like(c))  # no NaN in the graph: its gradient would be NaN too
    inliers = inliers & usable[:, None]
    safe_tri = torch.where(inliers, tri, torch.ones_like(tri))
    r = torch.where(inliers, c[:, None] * pred / safe_tri, torch.zeros_like(pred))
    a = r.sum(-1) / ((r * r).sum(-1) + eps)
    return torch.where(usable, c * a, torch.full_like(a, float("nan")))
