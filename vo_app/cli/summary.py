"""What a run tells the user: before the loop, a warning if the working size stretches the images; at the
end, the preset, working size, intrinsics and units, where the outputs are and, with ground truth, the accuracy."""
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


#: fx and fy of the working size may differ by this share of the smaller one before vo-run warns.
ASPECT_TOLERANCE = 0.05


def aspect_warning(seq) -> str | None:
    """One line when the working size stretches the images (fx and fy more than 5 % apart), else None."""
    K = seq.intrinsics
    if max(K.fx, K.fy) <= (1 + ASPECT_TOLERANCE) * min(K.fx, K.fy):
        return None
    (W, H), (W0, H0) = seq.size, seq.native_size
    keep = f"{W}x{max(16, round(W * H0 / W0 / 8) * 8)}"
    return (f"warning: the working size {W}x{H} stretches the {W0}x{H0} images (fx {K.fx:.1f}, fy {K.fy:.1f}); "
            f"pass --size {keep} to keep their aspect ratio")


def units_text(report: dict) -> str:
    """What the trajectory's unit is, from the run's scale mode (and, for fused, the sources it used)."""
    scale = report.get("config", {}).get("scale")
    arbitrary = "arbitrary units: first step = 1; give --camera-height or depth for metres"
    if scale == "rgbd":
        return "metres: from the depth images"
    if scale == "depth":
        return "metres: from the depth network"
    if scale == "fused":
        if "window" not in report:
            return "arbitrary units: --window 0 writes the chain as it is (first step = 1); the ground plane and depth enter the window only"
        solves = report["window"]["keyframes"]  # the sources whose factors entered a solve
        used = [name for name in ("ground", "depth") if any(a["source"] == name for r in solves
                                                            for a in r.get("absolute", []))]
        if not used:
            return "arbitrary units: no ground-plane or depth measurement was accepted; first step = 1"
        names = {"ground": f"the camera height ({report['config'].get('camera_height')} m)", "depth": "the depth network"}
        return "metres: from " + " and ".join(names[u] for u in used)
    return arbitrary


def print_summary(seq, report: dict, out_dir: Path, picked: str | None = None) -> dict | None:
    """Print the end-of-run summary (``picked``: the preset the layout chose, None when --config was given);
    returns the accuracy with ground truth, else None."""
    tot = report["totals"]
    K = seq.intrinsics
    (W, H), (W0, H0) = seq.size, seq.native_size
    if picked is not None:
        click.echo(f"preset: {picked} (picked for the {seq.layout} layout; --config to choose another)")
    click.echo(f"working size: {W}x{H} (images {W0}x{H0}); intrinsics: fx {K.fx:.2f} fy {K.fy:.2f} "
               f"cx {K.cx:.2f} cy {K.cy:.2f}")
    click.echo(f"units: {units_text(report)}")
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
