"""Accuracy and scale drift of ``vo-run``'s scale modes on the KITTI dev clips and long synthetic drives.

Usage: .venv/bin/python benchmarks/scale_modes.py [--depth-weights weights/depth_small_cpu.pt]
       [--synthetic-frames 1500] [--only kitti|synthetic] [--dis medium|fine|...]

Rows: ``--scale triangulation`` (the chain), ``fused`` with the ground plane only (the camera
height), ``fused`` with the depth network only, ``fused`` with both, and ``depth`` (the network
alone); the runs are ``vo-run SEQ --config kitti|demo --scale MODE [...] --quiet`` in this process
(``open_sequence`` + ``run_odometry``).  Columns: median per-pair rotation error, Sim(3) ATE (m and
% of the path), the scale drift of ``vo-eval traj`` (``vo_app/eval/drift.py``: the est/GT step
ratio normalised to the first 10 moving steps and smoothed over 5; its end value and its worst
deviation), the median absolute step ratio (est/GT, un-normalised: 1 = metric), the ATE with
the ground truth's step lengths put into the estimate (the error that is not scale), and frames/s.

Synthetic drives (rendered once into ``runs/scale_bench/``; scenes never used in the depth
network's training, which draws scene seeds 2000-2023): ``vo-synth DIR --frames N --motion forward
--seed 3 --layout kitti`` (constant speed; the command of the scale-drift issue) and the same
with ``--motion stopgo`` (standstill, acceleration, 20-frame stops, turns), camera 1.6 m above
the road (``--camera-height 1.6``).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import DATA, accuracy  # noqa: E402

from vo_app.eval.drift import scale_drift  # noqa: E402
from vo_app.io import open_sequence, read_kitti  # noqa: E402
from vo_app.pipeline.config import load_config, resolve_preset  # noqa: E402
from vo_app.pipeline.odometry import run_odometry  # noqa: E402

KITTI = ("kitti00_0000-0090", "kitti06_0000-0050", "kitti01_0000-0050")
CACHE = Path(__file__).resolve().parents[1] / "runs" / "scale_bench"


def with_gt_norms(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``est [N,4,4]`` with each relative step's length replaced by the ground truth's."""
    out = [est[0]]
    for k in range(1, len(est)):
        rel = np.linalg.inv(est[k - 1]) @ est[k]
        g = np.linalg.norm((np.linalg.inv(gt[k - 1]) @ gt[k])[:3, 3])
        n = np.linalg.norm(rel[:3, 3])
        if n > 0:
            rel[:3, 3] *= g / n
        out.append(out[-1] @ rel)
    return np.stack(out)


def estimate(seq_dir: Path, preset: str, **overrides) -> tuple[np.ndarray, np.ndarray, dict, float]:
    """``vo-run SEQ --config PRESET`` with ``overrides``, in this process: ground truth ``[N,4,4]``,
    estimate ``[N,4,4]``, the report and the seconds the run took."""
    cfg = load_config(preset, **overrides)
    seq = open_sequence(seq_dir, size=cfg.size, color=cfg.color)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rep = run_odometry(seq, cfg, Path(tmp))
        wall = time.perf_counter() - t0
        est = read_kitti(Path(tmp) / "trajectory_kitti.txt")
    return seq.gt_poses, est, rep, wall


def run(seq_dir: Path, preset: str, **overrides) -> dict:
    gt, est, rep, wall = estimate(seq_dir, preset, **overrides)
    acc = accuracy(gt, est)
    dr = scale_drift(gt[:, :3, 3], est[:, :3, 3])
    g = np.linalg.norm(np.diff(gt[:, :3, 3], axis=0), axis=1)
    e = np.linalg.norm(np.diff(est[:, :3, 3], axis=0), axis=1)
    moving = g > 0.05 * np.median(g[g > 0])
    path = float(g.sum())
    return {"rot": acc["median_rot_err_deg"], "ate": acc["ate_rmse_m"], "path": path, "drift_end": dr["end"],
            "drift_worst": dr["worst"], "abs_ratio": float(np.median(e[moving] / g[moving])),
            "ate_gt_norms": accuracy(gt, with_gt_norms(est, gt))["ate_rmse_m"], "fps": len(gt) / wall,
            "window": rep.get("window", {}).get("levels")}


def synthetic(motion: str, frames: int) -> Path:
    from vo_app.synth import write_sequence

    out = CACHE / f"{motion}_{frames}_s3"
    if not (out / "poses.txt").is_file():
        print(f"rendering {out} ...", file=sys.stderr)
        write_sequence(out, layout="kitti", n_frames=frames, motion=motion, seed=3, write_flow=False)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth-weights", default="weights/depth_small_cpu.pt")
    ap.add_argument("--synthetic-frames", type=int, default=1500)
    ap.add_argument("--only", choices=["kitti", "synthetic"])
    ap.add_argument("--dis", help="DIS preset of every run (default: the preset's, medium)")
    args = ap.parse_args()
    dw = args.depth_weights
    jobs = []
    if args.only != "synthetic":
        for clip in KITTI:
            if not (DATA / clip).is_dir():
                print(f"skip {clip}: not found", file=sys.stderr)
                continue
            jobs += [(clip, DATA / clip, "kitti", label, ov) for label, ov in (
                ("triangulation", {"scale": "triangulation"}),
                ("fused: ground", {"scale": "fused"}),
                ("fused: depth", {"scale": "fused", "depth_weights": dw}),
                ("fused: ground + depth", {"scale": "fused", "depth_weights": dw}),
                ("depth", {"scale": "depth", "depth_weights": dw}))]
    if args.only != "kitti":
        for motion in ("forward", "stopgo"):
            d = synthetic(motion, args.synthetic_frames)
            jobs += [(f"synthetic {motion} {args.synthetic_frames}", d, "demo", label, ov) for label, ov in (
                ("triangulation", {"scale": "triangulation"}),
                ("fused: ground", {"scale": "fused", "camera_height": 1.6}),
                ("fused: depth", {"scale": "fused", "depth_weights": dw}),
                ("fused: ground + depth", {"scale": "fused", "depth_weights": dw, "camera_height": 1.6}),
                ("depth", {"scale": "depth", "depth_weights": dw}))]
    print("| sequence | --scale | rot. err (deg) | ATE Sim(3) (m) | ATE / path | drift end | drift worst | "
          "median est/GT step | ATE with GT step lengths (m) | frames/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        # the kitti preset without its camera height: the "fused: depth" rows run without the ground plane
        no_height = Path(tmp) / "kitti_no_height.yaml"
        no_height.write_text("".join(line for line in resolve_preset("kitti").read_text().splitlines(True)
                                     if not line.startswith("camera_height")))
        for name, d, preset, label, ov in jobs:
            if preset == "kitti" and label == "fused: depth":
                preset = str(no_height)
            r = run(d, preset, **ov, **({"dis_preset": args.dis} if args.dis else {}))
            end = "-" if r["drift_end"] is None else f"{r['drift_end']:.3f}"
            worst = "-" if r["drift_worst"] is None else f"{r['drift_worst']:+.3f}"
            print(f"| {name} | {label} | {r['rot']:.4f} | {r['ate']:.3f} | {100 * r['ate'] / r['path']:.2f}% | {end} | "
                  f"{worst} | {r['abs_ratio']:.3f} | {r['ate_gt_norms']:.3f} | {r['fps']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
