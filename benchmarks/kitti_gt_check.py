"""Is the ground truth at the start of a KITTI clip measured?  And the scale drift with and without that stretch.

Usage: .venv/bin/python benchmarks/kitti_gt_check.py [--clips kitti00_0000-0090 kitti06_0000-0050 kitti01_0000-0050]
       [--tol 0.01] [--no-runs]

For each clip, from ``poses.txt`` and ``times.txt``: the world-frame velocity of every step
(camera-centre displacement / time step) and the angle between the camera's heading (its z axis)
and that velocity, both in the ground plane (x-z).  A car's heading and its velocity turn together
(the camera is fixed to the car), and a measured velocity changes from step to step (KITTI's
drives accelerate at 0.3-1 m/s^2, i.e. 3-10 cm/s per 0.1 s step).  The leading stretch of steps
whose velocity vector equals the first step's within ``--tol`` m/s is printed, with the heading's
turn over it: a constant velocity while the heading turns is a pose that was extrapolated, not
measured.  Then ``vo-run CLIP --config kitti --scale triangulation|fused`` (in this process) and
the scale drift of ``vo-eval traj`` (``vo_app/eval/drift.py``) normalised at frame 0 and, with
``from_frame``, after that stretch (``vo-eval traj --drift-from``).  No run sees the ground truth.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import DATA  # noqa: E402
from scale_modes import estimate  # noqa: E402

from vo_app.eval.drift import scale_drift  # noqa: E402


def constant_velocity_prefix(poses: np.ndarray, times: np.ndarray, tol: float) -> dict:
    """The leading steps of ``poses [N,3,4|4,4]`` (camera to world) whose velocity equals the first's within
    ``tol`` m/s: ``n_steps``, the speed, the heading's turn over them (deg) and, after them, the median
    step-to-step velocity change (m/s)."""
    c = poses[:, :3, 3]
    v = np.diff(c, axis=0) / np.diff(times)[:, None]
    dv = np.linalg.norm(v - v[0], axis=1)
    n = int(np.argmax(dv > tol)) if np.any(dv > tol) else len(v)
    heading = np.degrees(np.arctan2(poses[:, 0, 2], poses[:, 2, 2]))  # camera z axis in the x-z plane
    after = np.linalg.norm(np.diff(v[n:], axis=0), axis=1)
    return {"n_steps": n, "speed": float(np.linalg.norm(v[0])), "heading_turn_deg": float(heading[n] - heading[0]),
            "velocity_turn_deg": float(np.degrees(np.arctan2(v[n - 1, 0], v[n - 1, 2]) - np.arctan2(v[0, 0], v[0, 2])))
            if n else 0.0, "dv_after": float(np.median(after)) if len(after) else float("nan"),
            "dv_within": float(np.median(np.linalg.norm(np.diff(v[:n], axis=0), axis=1))) if n > 1 else float("nan")}


def drift_of(clip: Path, mode: str, from_frames: list[int]) -> list[dict]:
    gt, est, _, _ = estimate(clip, "kitti", scale=mode)
    return [scale_drift(gt[:, :3, 3], est[:, :3, 3], from_frame=f) for f in from_frames]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="+", default=["kitti00_0000-0090", "kitti06_0000-0050", "kitti01_0000-0050"])
    ap.add_argument("--tol", type=float, default=0.01, help="m/s: a step's velocity 'equals' the first's within this")
    ap.add_argument("--no-runs", action="store_true", help="only the ground-truth check")
    args = ap.parse_args()
    print("| clip | constant-velocity steps from frame 0 | speed (m/s) | heading turn / velocity turn over them (deg) "
          "| median velocity change per step: within / after (m/s) |")
    print("|---|---|---|---|---|")
    found = {}
    for name in args.clips:
        d = DATA / name
        poses = np.loadtxt(d / "poses.txt").reshape(-1, 3, 4)
        r = constant_velocity_prefix(poses, np.loadtxt(d / "times.txt"), args.tol)
        found[name] = r["n_steps"] if r["n_steps"] > 1 else 0
        if not found[name]:
            print(f"| {name} | none | {r['speed']:.3f} | - | - / {r['dv_after']:.4f} |")
            continue
        print(f"| {name} | {r['n_steps']} (frames 0-{r['n_steps']}) | {r['speed']:.3f} | "
              f"{r['heading_turn_deg']:+.2f} / {r['velocity_turn_deg']:+.2f} | {r['dv_within']:.4f} / "
              f"{r['dv_after']:.4f} |")
    if args.no_runs:
        return
    print("\n| clip | --scale | drift end, from frame 0 | worst | drift end, after the stretch | worst |")
    print("|---|---|---|---|---|---|")
    for name in args.clips:
        f = found[name]
        for mode in ("triangulation", "fused"):
            d0, d1 = drift_of(DATA / name, mode, [0, f])
            tail = f"{d1['end']:.3f} (frame {f} on) | {d1['worst']:+.3f}" if f else "- | -"
            print(f"| {name} | {mode} | {d0['end']:.3f} | {d0['worst']:+.3f} | {tail} |", flush=True)


if __name__ == "__main__":
    main()
