"""Pairing a ground-truth and an estimated trajectory, pose for pose, as evo objects.

* Both files in TUM format: poses are associated by timestamp with evo
  (``sync.associate_trajectories``, nearest time within ``max_diff`` seconds).
* Otherwise (a KITTI file on either side): by row.  Estimate row ``i`` matches
  ground-truth row ``rows[i]`` (:mod:`.gt_rows`: ``--start``/``--stride``, the
  run's ``report.json``, or the first rows), so a partial run is scored against
  the ground truth of the whole sequence.

Files are first read with :mod:`vo_app.io.trajectory` so that a malformed file
is a one-line :class:`~vo_app.errors.UserError` naming the file and line.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from evo.core import sync
from evo.core.trajectory import PosePath3D
from evo.tools import file_interface

from ..errors import UserError
from ..io.trajectory import read_trajectory
from .gt_rows import describe_rows, gt_rows_for


class PosePair(NamedTuple):
    """What :func:`load_pair` returns: matched evo paths and how they were matched."""

    ref: PosePath3D
    est: PosePath3D
    timestamps: np.ndarray | None  # [M] seconds of the matched poses, None for row matching
    matched_by: str  # "timestamps" or "rows"
    gt_total: int | None = None  # poses in the ground-truth file (None: arrays given directly)
    gt_used: str = ""  # which of them were used, for a note: "rows 0-19", "matched by timestamp"


def paths_from_poses(gt: np.ndarray, est: np.ndarray, timestamps: np.ndarray | None = None) -> PosePair:
    """Row-matched pair from ``[N,4,4]`` camera-to-world arrays (e.g. a sequence's GT and a run)."""
    if gt.shape != est.shape:
        raise ValueError(f"expected two [N,4,4] arrays of equal shape, got {gt.shape} and {est.shape}")
    ref = PosePath3D(poses_se3=[np.asarray(p, np.float64) for p in gt])
    e = PosePath3D(poses_se3=[np.asarray(p, np.float64) for p in est])
    return PosePair(ref, e, None if timestamps is None else np.asarray(timestamps, np.float64), "rows")


def load_pair(gt_path: "str | os.PathLike[str]", est_path: "str | os.PathLike[str]", fmt: str | None = None,
              max_diff: float = 0.01, start: int | None = None, stride: int | None = None) -> PosePair:
    """Read and match ``gt_path`` and ``est_path`` (``fmt``: ``kitti``, ``tum`` or None to detect).

    ``start``/``stride``: for row matching, estimate row ``i`` is ground-truth row
    ``start + i * stride`` (None: from the run's report.json, else the first rows).
    """
    gt = read_trajectory(gt_path, fmt)
    est = read_trajectory(est_path, fmt)
    if gt.fmt == "tum" and est.fmt == "tum":
        ref = file_interface.read_tum_trajectory_file(str(gt_path))
        e = file_interface.read_tum_trajectory_file(str(est_path))
        try:
            ref, e = sync.associate_trajectories(ref, e, max_diff=max_diff)
        except sync.SyncException:
            raise UserError(f"no timestamp matches one of {Path(gt_path).name} within {max_diff} s", path=est_path,
                            fix="check that both files use the same clock, or raise --t-max-diff") from None
        return PosePair(ref, e, np.asarray(ref.timestamps, np.float64), "timestamps", len(gt.poses),
                        "matched by timestamp")
    sel, source = gt_rows_for(len(est.poses), len(gt.poses), est_path, gt_path, start, stride)
    stamps = gt.timestamps[sel] if gt.timestamps is not None else est.timestamps
    pair = paths_from_poses(gt.poses[sel], est.poses, stamps)
    used = describe_rows(sel)
    if source != "first rows":
        used += f", by {source}"
    elif len(sel) < len(gt.poses):
        used += ", the first ones: give --start/--stride if the run skipped frames"
    return pair._replace(gt_total=len(gt.poses), gt_used=used)


def as_matrices(path: PosePath3D) -> np.ndarray:
    """evo path -> ``[N,4,4]`` float64 array."""
    return np.stack([np.asarray(p, np.float64) for p in path.poses_se3])


