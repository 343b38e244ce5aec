"""One results table over a folder of runs (``vo-eval summary DIR``, and the end of ``vo-batch``).

Each sub-folder is one sequence's run (:mod:`vo_app.io.run_folder`).  A complete run with
``groundtruth_kitti.txt`` is scored by :func:`vo_app.eval.report.evaluate_all`, the code of
``vo-eval traj`` and ``vo-run --eval`` (Sim(3) alignment by default, RPE over 1 frame, KITTI
segments chosen as ``--segments auto`` does, scale drift from the start).  One row per sequence:
frames, path length, ATE RMSE, RPE translation and rotation RMSE, the KITTI segment errors with
the segment lengths used, the scale drift at the end and its worst; then the mean over the
scored rows.  Failed, incomplete and ground-truth-less runs are rows too, with their reason.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from ..io import atomic_write_json, atomic_write_text, read_kitti
from ..io.run_folder import ERROR, GROUND_TRUTH, REPORT, TRAJECTORY, is_run_folder, read_json, run_status
from .table import _lengths_text  # the segment-length text of vo-eval traj's table ("100-200 m")

#: (key, Markdown/CSV header, digits) of the numeric columns, in order.
COLUMNS = (
    ("frames", "frames", 0),
    ("path_length_m", "path [m]", 1),
    ("ate_rmse_m", "ATE RMSE [m]", 4),
    ("rpe_trans_m", "RPE trans [m/frame]", 4),
    ("rpe_rot_deg", "RPE rot [deg/frame]", 4),
    ("kitti_t_err_pct", "KITTI t_err [%]", 2),
    ("kitti_r_err_deg_per_100m", "KITTI r_err [deg/100m]", 3),
    ("scale_drift_end", "scale drift at end", 3),
    ("scale_drift_worst", "scale drift worst", 3),
)
SUMMARY_FILES = ("summary.md", "summary.csv", "summary.json")


def _finite(v) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def evaluate_folder(folder: Path, align: str = "sim3", lengths="auto", step: int = 10) -> dict:
    """One row for the run in ``folder`` (see the module docstring)."""
    row: dict = {"sequence": folder.name, "status": "ok", "note": None, "frames": None}
    report = read_json(folder / REPORT) or {}
    if report.get("frames_written") is not None:
        row["frames"] = int(report["frames_written"])
    status = run_status(folder)
    if status is None:
        row.update(status="not run", note="no report.json")
        return row
    if status == "failed":
        row.update(status="failed", note=(read_json(folder / ERROR) or {}).get("error") or "see vo-run.log")
        return row
    if status != "complete":
        row.update(status="incomplete", note=f"report.json status {status!r}: stopped part-way; run the batch again")
        return row
    if not (folder / GROUND_TRUTH).exists():
        if "accuracy" in report:  # vo-run found ground truth, but the folder was not made by vo-batch
            row.update(status="not scored", note=f"no {GROUND_TRUTH} (not a vo-batch run); score it with vo-eval traj")
        else:
            row.update(status="no ground truth", note="the sequence has no ground truth")
        return row
    from .association import paths_from_poses
    from .report import evaluate_all

    try:
        est = read_kitti(folder / TRAJECTORY)
        gt = read_kitti(folder / GROUND_TRUTH)[: len(est)]
        if len(gt) < len(est):
            raise ValueError(f"{GROUND_TRUTH} has {len(gt)} poses for {len(est)} estimated")
        r = evaluate_all({folder.name: paths_from_poses(gt, est)}, align=align, delta_m=None, lengths=lengths,
                         step=step)[folder.name]
    except Exception as e:  # one bad folder is a row with its reason, not the end of the table
        row.update(status="eval failed", note=" ".join(f"{type(e).__name__}: {e}".split()))
        return row
    k, d, rf = r["kitti"], r.get("drift") or {}, r["rpe_frame"]
    row.update(
        frames=int(r["n_poses"]), path_length_m=_finite(r["path_length_m"]), ate_rmse_m=_finite(r["ate_m"]["rmse"]),
        rpe_trans_m=_finite((rf["trans_m"] or {}).get("rmse")), rpe_rot_deg=_finite((rf["rot_deg"] or {}).get("rmse")),
        kitti_t_err_pct=_finite(k["t_err_pct"]), kitti_r_err_deg_per_100m=_finite(k["r_err_deg_per_100m"]),
        kitti_segments=_lengths_text(list(k["lengths"])), kitti_n_segments=int(k["n_segments"]),
        scale_drift_end=_finite(d.get("end")), scale_drift_worst=_finite(d.get("worst")),
        align=r["align"])
    return row


def _mean_row(rows: list[dict]) -> dict | None:
    scored = [r for r in rows if r["status"] == "ok"]
    if not scored:
        return None
    mean = {"sequence": f"mean ({len(scored)} with ground truth)", "status": "mean", "note": None}
    for key, _, _ in COLUMNS:
        vals = [r[key] for r in scored if r.get(key) is not None]
        mean[key] = float(np.mean(vals)) if vals else None
    segs = {r.get("kitti_segments") for r in scored}
    mean["kitti_segments"] = segs.pop() if len(segs) == 1 else "per row"
    return mean


def summarize(results_dir: Path, names: list[str] | None = None, align: str = "sim3", lengths="auto",
              step: int = 10) -> dict:
    """``{"rows": [...], "mean": row | None, "settings": {...}}`` for the runs in ``results_dir``
    (``names``: these sub-folders in this order, else every run folder, sorted)."""
    results_dir = Path(results_dir)
    if names is None:
        names = sorted(p.name for p in results_dir.iterdir() if is_run_folder(p))
    rows = [evaluate_folder(results_dir / n, align=align, lengths=lengths, step=step) for n in names]
    return {"rows": rows, "mean": _mean_row(rows),
            "settings": {"align": align, "rpe": "1 frame, RMSE", "ate": "RMSE",
                         "segments": lengths if isinstance(lengths, str) else list(lengths), "segment_step": step,
                         "scale_drift": "ratio of step lengths to the start's (1 = none); worst: r - 1"}}


def _cell(row: dict, key: str, digits: int) -> str:
    v = row.get(key)
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if digits or not float(v).is_integer() else f"{int(v)}"


def _row_cells(row: dict) -> list[str]:
    cells = [row["sequence"]]
    for key, _, digits in COLUMNS:
        if key == "kitti_r_err_deg_per_100m":
            cells.append(_cell(row, key, digits))
            cells.append(row.get("kitti_segments") or "-")
            continue
        cells.append(_cell(row, key, 1 if key == "frames" and row["status"] == "mean" else digits))
    cells.append("" if row["status"] in ("ok", "mean") else f"{row['status']}: {row['note']}")
    return cells


def headers() -> list[str]:
    out = ["sequence"]
    for key, name, _ in COLUMNS:
        out.append(name)
        if key == "kitti_r_err_deg_per_100m":
            out.append("KITTI segments")
    return out + ["note"]


def format_markdown(table: dict) -> str:
    """The table in Markdown (a pipe table; no trailing newline)."""
    head = headers()
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 or h == "note" else "---:"
                                                            for i, h in enumerate(head)) + "|"]
    body = [_row_cells(r) for r in table["rows"]] + ([_row_cells(table["mean"])] if table["mean"] else [])
    for cells in body:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    s = table["settings"]
    lines.append("")
    lines.append(f"Alignment {s['align']}; ATE and RPE are RMSE, RPE over 1 frame; KITTI segments "
                 f"'{s['segments']}' starting every {s['segment_step']} frames; scale drift: steps' length ratio "
                 "to the start's at the end (1 = none) and its worst deviation.")
    return "\n".join(lines)


def format_csv(table: dict) -> str:
    """The table as CSV: raw numbers (no rounding), one row per sequence, then the mean."""
    buf = io.StringIO()
    keys = ["sequence", "status"] + [k for k, _, _ in COLUMNS] + ["kitti_segments", "kitti_n_segments", "note"]
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in table["rows"] + ([table["mean"]] if table["mean"] else []):
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
    return buf.getvalue()


def write_summary(table: dict, out_dir: "str | os.PathLike[str]") -> list[Path]:
    """``summary.md``, ``summary.csv`` and ``summary.json`` in ``out_dir`` (atomically)."""
    out_dir = Path(out_dir)
    return [atomic_write_text(out_dir / "summary.md", format_markdown(table) + "\n"),
            atomic_write_text(out_dir / "summary.csv", format_csv(table)),
            atomic_write_json(out_dir / "summary.json", table)]
