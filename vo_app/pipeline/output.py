"""Crash-safe outputs of a run: trajectories and report, rewritten atomically as the run goes."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..geometry import interpolate
from ..io.atomic import atomic_write_json
from ..io.run_folder import REPORT, TRAJECTORY
from ..io.trajectory import write_kitti, write_tum


#: Every file ``vo-run`` writes in ``--out`` (the run, ``--eval``, ``--save-ply``); a new run into the
#: same folder removes the previous run's copies first (:func:`remove_previous_run`).
RUN_FILES = (TRAJECTORY, "trajectory_tum.txt", REPORT, "eval.json", "trajectory_top.png",
             "trajectory_errors.png", "scale_drift.png", "map.ply")


def remove_previous_run(out_dir: Path) -> list[str]:
    """Delete the previous run's :data:`RUN_FILES` in ``out_dir``, and the temporary files a killed run
    may have left beside them (``.<name>.*.tmp``, :mod:`vo_app.io.atomic`); nothing else (a
    ``vo-batch`` folder's log and ground truth stay).  Returns the names of the run files removed."""
    removed = []
    try:
        entries = list(os.scandir(out_dir))
    except FileNotFoundError:
        return removed
    for e in entries:
        stale = e.name in RUN_FILES or (e.name.startswith(".") and e.name.endswith(".tmp") and any(
            e.name.startswith(f".{n}.") for n in RUN_FILES))
        if stale and e.is_file(follow_symlinks=False):
            try:
                os.unlink(e.path)
            except OSError as exc:
                raise UserError(f"cannot remove the previous run's file ({exc.strerror or exc})", path=e.path,
                                fix="check the output folder's permissions, or choose another --out") from None
            if e.name in RUN_FILES:
                removed.append(e.name)
    return sorted(removed, key=RUN_FILES.index)


class RunOutput:
    """Collects one pose per input frame and flushes ``trajectory_kitti.txt``,
    ``trajectory_tum.txt`` and ``report.json`` at most every ``flush_seconds``.

    Frames without a pose (corrupt images) are filled when the next pose is
    known (geodesic interpolation) or, at the end of the run, held from the last
    pose; both are listed in the report.  Files only ever hold complete rows.
    """

    def __init__(self, out_dir: Path, flush_seconds: float = 1.0):
        self.out_dir = Path(out_dir)
        self.flush_seconds = flush_seconds
        self.poses: list[np.ndarray | None] = []
        self.timestamps: list[float] = []
        self.filled: dict[int, str] = {}
        self._last_flush = float("-inf")

    def add(self, timestamp: float, pose: np.ndarray | None) -> None:
        if pose is not None and not np.isfinite(pose).all():
            raise ValueError("refusing to record a non-finite pose")
        self.poses.append(None if pose is None else np.array(pose, np.float64))
        self.timestamps.append(float(timestamp))
        if pose is not None:
            self._fill_gap(len(self.poses) - 1)

    def rewrite(self, poses: list) -> None:
        """Replace every pose (one per row added so far; None where a frame had none), gaps filled again."""
        if len(poses) != len(self.poses):
            raise ValueError(f"rewrite needs {len(self.poses)} poses, got {len(poses)}")
        stamps, self.poses, self.timestamps, self.filled = self.timestamps, [], [], {}
        for t, pose in zip(stamps, poses):
            self.add(t, pose)

    def _fill_gap(self, last: int) -> None:
        j = last - 1
        while j >= 0 and self.poses[j] is None:
            j -= 1
        gap = range(j + 1, last)
        for k in gap:
            if j < 0:
                self.poses[k] = self.poses[last].copy()
                self.filled[k] = "held"
            else:
                a = (k - j) / (last - j)
                self.poses[k] = interpolate(self.poses[j], self.poses[last], a)
                self.filled[k] = "interpolated"

    def filled_record(self) -> dict[str, str]:
        """``report.json``'s ``filled_frames``: frame row (as text) -> ``interpolated`` or ``held``."""
        return {str(k): v for k, v in sorted(self.filled.items())}

    def complete_rows(self) -> int:
        n = 0
        while n < len(self.poses) and self.poses[n] is not None:
            n += 1
        return n

    def flush(self, report: dict, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_seconds:
            return
        if force:  # end of run: hold the last pose over trailing corrupt frames
            last = None
            for k, p in enumerate(self.poses):
                if p is None and last is not None:
                    self.poses[k] = last.copy()
                    self.filled[k] = "held"
                last = self.poses[k] if self.poses[k] is not None else last
        n = self.complete_rows()
        if n > 0:
            P = np.stack(self.poses[:n])
            write_kitti(self.out_dir / "trajectory_kitti.txt", P)
            write_tum(self.out_dir / "trajectory_tum.txt", np.asarray(self.timestamps[:n]), P)
        report = dict(report)
        report["frames_written"] = n
        report["filled_frames"] = self.filled_record()
        atomic_write_json(self.out_dir / "report.json", report)
        self._last_flush = now
