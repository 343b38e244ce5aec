"""Depth metrics of one image and their mean over a dataset (see ``vo_app/eval/depth/__init__.py``)."""
from __future__ import annotations

import math

import numpy as np



#: the usual depth cap for driving data (KITTI, the synthetic street), metres.
DRIVING_CAP = 80.0
#: predictions are clipped below at this depth (metres) so that log and ratios stay finite.
MIN_DEPTH = 1e-3
METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")

# ------------------------------------------------------------------------------------ metrics
def valid_mask(gt: np.ndarray, cap: "float | None") -> np.ndarray:
    """bool ``[H,W]``: finite ground truth with ``0 < gt`` (and ``gt <= cap`` when a cap is given)."""
    gt = np.asarray(gt)
    m = np.isfinite(gt) & (gt > 0)
    if cap is not None:
        m &= gt <= cap
    return m


def depth_metrics(pred: np.ndarray, gt: np.ndarray, cap: "float | None" = DRIVING_CAP,
                  median_scale: bool = False) -> dict:
    """The metrics of one image (see the module docstring).

    Args:
        pred, gt: ``[H,W]`` depths in metres (gt 0 where unknown).
        cap: largest ground-truth depth used and largest predicted depth (metres); None: no cap.
        median_scale: multiply the prediction by ``median(gt) / median(pred)`` over the valid pixels.

    Returns:
        ``{metric: float}`` for :data:`METRICS`, plus ``pixels`` (valid pixel count) and ``scale``
        (the factor applied, 1 without median scaling); metrics are NaN when no pixel is valid.
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    m = valid_mask(gt, cap)
    n = int(m.sum())
    if n == 0:
        return {**{k: math.nan for k in METRICS}, "pixels": 0, "scale": math.nan}
    g, p = gt[m], pred[m]
    scale = 1.0
    if median_scale:
        mp = float(np.median(p))
        scale = float(np.median(g)) / mp if mp > 0 else math.nan
        p = p * scale
    p = np.clip(np.nan_to_num(p, nan=MIN_DEPTH), MIN_DEPTH, np.inf if cap is None else cap)
    ratio = np.maximum(g / p, p / g)
    d = p - g
    return {"abs_rel": float(np.mean(np.abs(d) / g)), "sq_rel": float(np.mean(d * d / g)),
            "rmse": float(np.sqrt(np.mean(d * d))), "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
            "a1": float(np.mean(ratio < 1.25)), "a2": float(np.mean(ratio < 1.25 ** 2)),
            "a3": float(np.mean(ratio < 1.25 ** 3)), "pixels": n, "scale": scale}


def mean_depth_metrics(rows: list) -> dict:
    """Mean of each metric over images with valid pixels; ``frames`` (those images), ``pixels`` (total),
    ``scale_median`` / ``scale_std`` (of the per-image median-scaling factors)."""
    used = [r for r in rows if r["pixels"] > 0]
    out = {k: float(np.mean([r[k] for r in used])) if used else math.nan for k in METRICS}
    out["frames"] = len(used)
    out["pixels"] = int(sum(r["pixels"] for r in rows))
    scales = np.array([r["scale"] for r in used], np.float64)
    scales = scales[np.isfinite(scales)]
    out["scale_median"] = float(np.median(scales)) if scales.size else math.nan
    out["scale_std"] = float(np.std(scales / np.median(scales))) if scales.size else math.nan
    return out
