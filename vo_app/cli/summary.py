"""The short text a run prints at the end: where the outputs are and, with ground truth, the accuracy."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..io.trajectory import read_kitti


def print_summary(seq, report: dict, out_dir: Path) -> dict | None:
    tot = report["totals"]
    fb = ", ".join(f"{k}: {v}" for k, v in sorted(tot["fallbacks"].items())) or "none"
    click.echo(f"frames: {report['frames_written']}  pairs: {tot['pairs']}  fallbacks: {fb}  "
               f"skipped: {tot['skipped_frames']}  time: {tot['wall_time_s']:.1f} s ({tot['frames_per_s']} frames/s)")
    acc = None
    if seq.gt_poses is not None:
        from ..eval import ate, pair_errors, path_length

        est = read_kitti(out_dir / "trajectory_kitti.txt")
        gt = np.asarray(seq.gt_poses)[: len(est)]
        res = ate(gt, est, align="sim3")
        pe = pair_errors(gt, est)
        length = path_length(gt)
        acc = {"ate_align": res["align"], "ate_rmse_m": res["rmse"], "path_length_m": length, "median_rot_err_deg": pe["median_rot_deg"],
               "median_tdir_err_deg": pe["median_tdir_deg"]}
        pct = f" ({100 * res['rmse'] / length:.2f}% of the {length:.1f} m path)" if length > 0 else ""
        how = "Sim(3)-aligned" if res["align"] == "sim3" else f"aligned: {res['align']}"
        click.echo(f"ATE RMSE ({how}): {res['rmse']:.4f} m{pct}")
        if report.get("config", {}).get("scale") == "rgbd":
            se3 = ate(gt, est, align="se3")
            acc["ate_se3_rmse_m"] = se3["rmse"]
            click.echo(f"ATE RMSE (SE(3)-aligned, metric scale from depth): {se3['rmse']:.4f} m")
        tdir = pe["median_tdir_deg"]
        tdir_text = f"{tdir:.3f} deg" if np.isfinite(tdir) else "n/a (no translation)"
        click.echo(f"median per-pair error: rotation {pe['median_rot_deg']:.4f} deg, translation direction {tdir_text}")
    click.echo(f"outputs: {out_dir}/trajectory_kitti.txt, trajectory_tum.txt, report.json")
    return acc
