"""Absolute trajectory error with evo's alignment, and per-pair relative-pose errors.

All poses are ``[N,4,4]`` camera-to-world, row ``i`` of the estimate matching row ``i`` of the ground truth.
"""
from __future__ import annotations

import numpy as np
from evo.core.trajectory import PosePath3D

from ..geometry import inverse, rotation_angle
from .evo_metrics import align_path, ape


def _path(poses: np.ndarray) -> PosePath3D:
    return PosePath3D(poses_se3=[np.asarray(p, np.float64) for p in poses])


def ate(gt: np.ndarray, est: np.ndarray, align: str = "sim3") -> dict:
    """ATE statistics (metres) of ``est`` against ``gt`` after ``align`` in {sim3, se3, scale, none}."""
    if gt.shape != est.shape or gt.ndim != 3 or gt.shape[1:] != (4, 4):
        raise ValueError(f"ate: expected two [N,4,4] arrays of equal shape, got {gt.shape} and {est.shape}")
    ref = _path(gt)
    aligned, info = align_path(ref, _path(est), align)
    stats, _ = ape(ref, aligned)
    return {"rmse": stats["rmse"], "mean": stats["mean"], "median": stats["median"], "max": stats["max"],
            "scale": info["scale"], "align": info["align"]}


def path_length(poses: np.ndarray) -> float:
    """Length (metres) of the camera centre polyline of ``poses [N,4,4]``."""
    return float(np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1).sum())


def relative_motions(poses: np.ndarray) -> np.ndarray:
    """``inv(T_i) @ T_{i-1}`` for consecutive poses ``[N,4,4]`` -> ``[N-1,4,4]`` (camera i-1 points into camera i)."""
    return np.einsum("nij,njk->nik", inverse(poses[1:]), poses[:-1])


def pair_errors(gt: np.ndarray, est: np.ndarray) -> dict:
    """Per consecutive pair: rotation error (deg) and translation-direction error (deg).

    Relative motion ``inv(T_i) @ T_{i-1}`` maps camera i-1 points into camera i.  The
    direction error is skipped for pairs where either translation is below 1 mm.
    """
    rel_g, rel_e = relative_motions(gt), relative_motions(est)
    rot = np.degrees(rotation_angle(np.einsum("nji,njk->nik", rel_e[:, :3, :3], rel_g[:, :3, :3])))
    tg, te = rel_g[:, :3, 3], rel_e[:, :3, 3]
    ng, ne = np.linalg.norm(tg, axis=1), np.linalg.norm(te, axis=1)
    ok = (ng > 1e-3) & (ne > 1e-3)
    cosang = np.sum(tg[ok] * te[ok], 1) / (ng[ok] * ne[ok])
    tdir = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
    return {"rot_deg": rot, "tdir_deg": tdir,
            "median_rot_deg": float(np.median(rot)) if len(rot) else float("nan"),
            "median_tdir_deg": float(np.median(tdir)) if len(tdir) else float("nan")}
