"""One estimate against its ground truth: every number of the ``vo-eval traj`` table.

:func:`evaluate_pair` returns a JSON-ready dict plus ``"series"``: NumPy arrays
for the plots, dropped by :func:`json_ready`.
"""
from __future__ import annotations

import numpy as np

from .association import PosePair, as_matrices
from .drift import drift_series, scale_drift
from .evo_metrics import align_path, ape, rpe
from .kitti_metric import KITTI_LENGTHS, KITTI_STEP, auto_lengths, kitti_metric, trajectory_distances


def resolve_lengths(lengths, path_length: float) -> tuple[float, ...]:
    """``"kitti"`` -> 100..800 m; ``"auto"`` -> :func:`auto_lengths`; a sequence -> itself."""
    if isinstance(lengths, str):
        if lengths == "kitti":
            return KITTI_LENGTHS
        if lengths == "auto":
            return auto_lengths(path_length)
        raise ValueError(f"unknown segment lengths {lengths!r}")
    return tuple(float(v) for v in lengths)


def evaluate_pair(pair: PosePair, align: str = "sim3", delta_m: float | None = None, lengths="kitti",
                  step: int = KITTI_STEP, drift_from: int = 0) -> dict:
    """ATE, RPE (per frame and, with ``delta_m``, per distance), KITTI drift and scale drift of ``pair.est``.

    The estimate is aligned once (``align``: sim3, se3, scale, none) and every metric
    uses the aligned estimate, as ``evo_ape``/``evo_rpe`` with the same flags do (the
    scale drift, :func:`.drift.scale_drift`, is normalised to the start, so the
    alignment does not change it; ``drift_from`` is its ``from_frame``).
    """
    est, info = align_path(pair.ref, pair.est, align)
    gt_m, est_m = as_matrices(pair.ref), as_matrices(est)
    dist = trajectory_distances(gt_m)
    ate_stats, ate_err = ape(pair.ref, est)
    rf_t, rf_t_err, rf_ids = rpe(pair.ref, est, 1, "frames", "trans")
    rf_r, rf_r_err, _ = rpe(pair.ref, est, 1, "frames", "rot")
    res = {
        "n_poses": int(len(gt_m)),
        "matched_by": pair.matched_by,
        "gt_poses_total": pair.gt_total,
        "gt_used": pair.gt_used or None,
        "align": info["align"],
        "scale": info["scale"],
        "path_length_m": float(dist[-1]),
        "ate_m": ate_stats,
        "rpe_frame": {"delta": 1, "unit": "frames", "trans_m": rf_t, "rot_deg": rf_r},
        "rpe_dist": None,
    }
    if delta_m is not None:
        rd_t, _, _ = rpe(pair.ref, est, float(delta_m), "meters", "trans")
        rd_r, _, _ = rpe(pair.ref, est, float(delta_m), "meters", "rot")
        res["rpe_dist"] = {"delta": float(delta_m), "unit": "meters", "trans_m": rd_t, "rot_deg": rd_r}
    res["kitti"] = kitti_metric(gt_m, est_m, resolve_lengths(lengths, float(dist[-1])), step)
    res["drift"] = scale_drift(gt_m[:, :3, 3], est_m[:, :3, 3], from_frame=drift_from)
    t = pair.timestamps
    res["series"] = {
        "gt_xyz": gt_m[:, :3, 3], "est_xyz": est_m[:, :3, 3], "ate": ate_err, "align": info["align"], "distance": dist,
        "time": None if t is None else np.asarray(t, np.float64) - float(t[0]),
        "rpe_ids": rf_ids, "rpe_trans": rf_t_err, "rpe_rot": rf_r_err, "drift": drift_series(res["drift"]),
    }
    return res


def json_ready(result: dict) -> dict:
    """``result`` without the plot arrays."""
    return {k: v for k, v in result.items() if k != "series"}
