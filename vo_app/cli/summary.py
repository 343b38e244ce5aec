"""The short text a run prints at the end: where the outputs are and, with ground truth, the accuracy."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..io.trajectory import read_kitti


def trajectory_accuracy(gt: np.ndarray, est: np.ndarray, metric_scale: bool = False) -> dict:
    """The accuracy ``vo-run`` reports (``report.json`` ``accuracy``): Sim(3)-aligned ATE (evo), path
    length, median per-pair rotation and translation-direction errors; with ``metric_scale``, the
    SE(3)-aligned ATE too.  ``gt, est [N,4,4]`` camera-to-world."""
    from ..eval import ate, pair_errors, path_length

    res = ate(gt, est, align="sim3")
    pe = pair_errors(gt, est)
    acc = {"ate_align": res["align"], "ate_rmse_m": res["rmse"], "path_length_m": path_length(gt),
           "median_rot_err_deg": pe["median_rot_deg"], "median_tdir_err_deg": pe["median_tdir_deg"]}
    if metric_scale:
        acc["ate_se3_rmse_m"] = ate(gt, est, align="se3")["rmse"]
    return acc


def print_summary(seq, report: dict, out_dir: Path) -> dict | None:
    tot = report["totals"]
    fb = ", ".join(f"{k}: {v}" for k, v in sorted(tot["fallbacks"].items())) or "none"
    click.echo(f"frames: {report['frames_written']}  pairs: {tot['pairs']}  fallbacks: {fb}  "
               f"skipped: {tot['skipped_frames']}  time: {tot['wall_time_s']:.1f} s ({tot['frames_per_s']} frames/s)")
    acc = None
    if seq.gt_poses is not None:
        est = read_kitti(out_dir / "trajectory_kitti.txt")
        gt = np.asarray(seq.gt_poses)[: len(est)]
        rgbd = report.get("config", {}).get("scale") == "rgbd"
        acc = trajectory_accuracy(gt, est, metric_scale=rgbd)
        rmse, length = acc["ate_rmse_m"], acc["path_length_m"]
        pct = f" ({100 * rmse / length:.2f}% of the {length:.1f} m path)" if length > 0 else ""
        how = "Sim(3)-aligned" if acc["ate_align"] == "sim3" else f"aligned: {acc['ate_align']}"
        click.echo(f"ATE RMSE ({how}): {rmse:.4f} m{pct}")
        if rgbd:
            click.echo(f"ATE RMSE (SE(3)-aligned, metric scale from depth): {acc['ate_se3_rmse_m']:.4f} m")
        tdir = acc["median_tdir_err_deg"]
        tdir_text = f"{tdir:.3f} deg" if np.isfinite(tdir) else "n/a (no translation)"
        click.echo(f"median per-pair error: rotation {acc['median_rot_err_deg']:.4f} deg, translation direction {tdir_text}")
    click.echo(f"outputs: {out_dir}/trajectory_kitti.txt, trajectory_tum.txt, report.json")
    return acc
