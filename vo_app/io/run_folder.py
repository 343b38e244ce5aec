"""One sequence's output folder as ``vo-batch`` leaves it, and how to read its state.

Files (all written atomically; see :mod:`vo_app.io.atomic`):

* ``trajectory_kitti.txt``, ``trajectory_tum.txt``, ``report.json``: what ``vo-run`` writes;
  ``report.json``'s ``status`` is ``"complete"`` only once the whole sequence was processed.
* ``groundtruth_kitti.txt``: the sequence's ground truth for the frames the run selected
  (row ``i`` = frame ``i`` of ``trajectory_kitti.txt``); absent when the sequence has none.
* ``error.json``: ``{"status": "failed", "error": one line, "sequence": path}`` when the run failed.
* ``vo-run.log``: what ``vo-run`` printed (and a traceback after a crash).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

REPORT = "report.json"
TRAJECTORY = "trajectory_kitti.txt"
GROUND_TRUTH = "groundtruth_kitti.txt"
ERROR = "error.json"
LOG = "vo-run.log"


def read_json(path: "str | os.PathLike[str]") -> dict | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def run_status(folder: "str | os.PathLike[str]") -> str | None:
    """``"failed"`` (an ``error.json``), else ``report.json``'s status (``"complete"``, ``"running"``
    for a run that stopped part-way), else None (nothing there yet)."""
    folder = Path(folder)
    if (folder / ERROR).exists():
        return "failed"
    report = read_json(folder / REPORT)
    if report is None:
        return None
    return str(report.get("status", "running"))


def is_run_folder(folder: "str | os.PathLike[str]") -> bool:
    """Whether ``folder`` holds a run's ``report.json`` or ``error.json``."""
    folder = Path(folder)
    return folder.is_dir() and ((folder / REPORT).exists() or (folder / ERROR).exists())
