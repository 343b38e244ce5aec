"""Alignment, APE and RPE, computed with evo exactly as ``evo_ape`` / ``evo_rpe`` do.

``align_path(ref, est, "sim3")`` followed by :func:`ape` equals ``evo_ape ... -as``;
``"se3"`` equals ``-a``, ``"scale"`` equals ``-s``, ``"none"`` no flag.  :func:`rpe`
with the same alignment equals ``evo_rpe ... -as`` (``-d DELTA -u f|m``,
``-r trans_part|angle_deg``).  Errors are in metres or degrees.
"""
from __future__ import annotations

import copy

import numpy as np
from evo.core import metrics
from evo.core.filters import FilterException
from evo.core.geometry import GeometryException
from evo.core.trajectory import PosePath3D

ALIGNMENTS = ("sim3", "se3", "scale", "none")
_STATS = ("rmse", "mean", "median", "std", "min", "max")


def align_path(ref: PosePath3D, est: PosePath3D, mode: str = "sim3") -> tuple[PosePath3D, dict]:
    """A copy of ``est`` aligned to ``ref`` (Umeyama, evo) and ``{"align", "scale"}``.

    A path without spread (static camera, pure rotation) cannot be Umeyama-aligned:
    its first pose is aligned to the reference's instead (``align`` says so).
    """
    if mode not in ALIGNMENTS:
        raise ValueError(f"unknown alignment {mode!r}; expected one of {ALIGNMENTS}")
    out = copy.deepcopy(est)
    scale = 1.0
    try:
        if mode in ("sim3", "se3"):
            _, _, scale = out.align(ref, correct_scale=(mode == "sim3"))
        elif mode == "scale":
            _, _, scale = out.align(ref, correct_scale=False, correct_only_scale=True)
    except GeometryException:
        out = copy.deepcopy(est)
        out.align_origin(ref)
        return out, {"align": "origin (degenerate path)", "scale": 1.0}
    return out, {"align": mode, "scale": float(scale)}


def _stats(metric: metrics.PE) -> dict:
    s = metric.get_all_statistics()
    return {k: float(s[k]) for k in _STATS}


def ape(ref: PosePath3D, est_aligned: PosePath3D) -> tuple[dict, np.ndarray]:
    """Translation APE (metres): statistics and the per-pose errors ``[N]``."""
    m = metrics.APE(metrics.PoseRelation.translation_part)
    m.process_data((ref, est_aligned))
    return _stats(m), np.asarray(m.error, np.float64)


def rpe(ref: PosePath3D, est_aligned: PosePath3D, delta: float = 1, unit: str = "frames",
        relation: str = "trans") -> tuple[dict | None, np.ndarray, np.ndarray]:
    """RPE over consecutive pairs ``delta`` frames (``unit="frames"``) or metres (``"meters"``) apart.

    ``relation`` is ``"trans"`` (metres) or ``"rot"`` (degrees).  Returns the
    statistics (None when no pair is that far apart), the errors ``[P]`` and the
    index of each pair's second pose ``[P]``.
    """
    rel = {"trans": metrics.PoseRelation.translation_part, "rot": metrics.PoseRelation.rotation_angle_deg}[relation]
    u = {"frames": metrics.Unit.frames, "meters": metrics.Unit.meters}[unit]
    m = metrics.RPE(rel, delta, u, 0.1, False, False)
    try:
        m.process_data((ref, est_aligned))
    except (FilterException, metrics.MetricsException):
        return None, np.zeros(0), np.zeros(0, np.int64)
    if len(m.error) == 0:
        return None, np.zeros(0), np.zeros(0, np.int64)
    return _stats(m), np.asarray(m.error, np.float64), np.asarray(m.delta_ids, np.int64)
