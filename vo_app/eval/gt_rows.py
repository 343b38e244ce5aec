"""Which ground-truth rows the rows of an estimate stand for, when both are matched by row.

A run of ``vo-run --start S --stride K --max-frames N`` writes N poses for the
sequence's frames ``S, S+K, ..., S+(N-1)K``; the ground truth of the whole
sequence has a row per frame.  :func:`gt_rows_for` picks, in this order:

1. ``start``/``stride`` given by the caller (``vo-eval traj --start/--stride``);
2. the frame selection recorded in the ``report.json`` beside the estimate
   (``source_indices``: the full-listing index of each written row, written by vo-run);
3. the first rows (start 0, stride 1): a ``--max-frames`` run, or ground truth
   of the same frames (as many rows as the estimate: 2. does not apply).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import UserError
from ..io.run_folder import REPORT, read_json


class GtRows(NamedTuple):
    """``rows``: int ``[N]`` ground-truth row of each estimate row; ``source``: where they came from."""

    rows: np.ndarray
    source: str  # "--start/--stride", "report.json" or "first rows"


def _from_report(est_path: Path, n_est: int) -> np.ndarray | None:
    """The rows recorded in ``report.json`` (``source_indices``) next to ``est_path``, or None."""
    doc = read_json(est_path.parent / REPORT) or {}
    idx = doc.get("source_indices")
    if isinstance(idx, list) and len(idx) == n_est and all(isinstance(v, int) for v in idx):
        return np.asarray(idx, np.int64)
    return None


def gt_rows_for(n_est: int, n_gt: int, est_path: "str | os.PathLike[str]", gt_path: "str | os.PathLike[str]",
                start: int | None = None, stride: int | None = None) -> GtRows:
    """Ground-truth row of each of ``n_est`` estimate rows, checked against the ``n_gt`` rows of ``gt_path``."""
    if start is not None or stride is not None:
        rows = (start or 0) + (stride or 1) * np.arange(n_est, dtype=np.int64)
        source = "--start/--stride"
    else:  # the report's selection applies to ground truth of more frames than the run has (not to a cut one)
        rows = _from_report(Path(est_path), n_est) if n_est < n_gt else None
        source = "report.json"
        if rows is None:
            rows, source = np.arange(n_est, dtype=np.int64), "first rows"
    if n_est and (rows.min() < 0 or rows.max() >= n_gt):
        how = {"report.json": "the frame selection in report.json", "first rows": "row"}.get(source, source)
        raise UserError(f"{n_est} poses need ground-truth row {int(rows.max())} by {how}, and "
                        f"{Path(gt_path).name} has {n_gt} rows", path=est_path,
                        fix="evaluate against the ground truth of the whole sequence, or give the run's "
                            "--start/--stride")
    return GtRows(rows, source)


def describe_rows(rows: np.ndarray) -> str:
    """``"rows 4-42 step 2"`` style text for a note (0-based rows of the file)."""
    rows = np.asarray(rows, np.int64)
    if len(rows) == 0:
        return "no rows"
    if len(rows) == 1:
        return f"row {int(rows[0])}"
    step = np.diff(rows)
    if np.all(step == step[0]):
        return f"rows {int(rows[0])}-{int(rows[-1])}" + ("" if step[0] == 1 else f" step {int(step[0])}")
    return f"{len(rows)} rows from {int(rows[0])} to {int(rows[-1])}"
