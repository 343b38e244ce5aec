"""``vo-run --eval``: the ``vo-eval traj`` table, JSON and plots for a finished run with ground truth."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..io.trajectory import read_kitti


def evaluate_run(seq, out_dir: Path, prog: str = "vo-run") -> dict | None:
    """Print the table; write ``eval.json``, ``trajectory_top.png``, ``trajectory_errors.png`` and
    ``scale_drift.png`` in ``out_dir``."""
    if seq.gt_poses is None:
        click.echo(f"{prog}: --eval: {seq.root} has no ground truth; nothing to evaluate", err=True)
        return None
    from ..eval import format_table, paths_from_poses
    from ..eval.gt_rows import describe_rows
    from ..eval.report import evaluate_all, write_outputs

    est = read_kitti(out_dir / "trajectory_kitti.txt")
    n = len(est)
    pair = paths_from_poses(np.asarray(seq.gt_poses)[:n], est, np.asarray(seq.timestamps)[:n])
    pair = pair._replace(gt_used=describe_rows(np.asarray(seq.source_indices)[:n]).replace("row", "frame"))
    label = seq.name
    results = evaluate_all({label: pair}, align="sim3", delta_m=10.0, lengths="auto")
    click.echo(format_table(results))
    meta = {"gt": "sequence ground truth", "estimates": {label: str(out_dir / "trajectory_kitti.txt")},
            "align": "sim3", "delta_m": 10.0, "segments": "auto", "segment_step": 10}
    write_outputs(results, json_path=out_dir / "eval.json", plots_dir=out_dir, meta=meta,
                  plot_stems={label: "trajectory"})
    click.echo(f"evaluation: {out_dir}/eval.json, trajectory_top.png, trajectory_errors.png, scale_drift.png")
    return results[label]
