"""The per-pair rotation error with two formulas for the angle, on the same trajectories.

Usage: .venv/bin/python benchmarks/rotation_metric.py [--seed 0] [--config kitti|YAML]
       [--clips kitti06_0000-0050 kitti01_0000-0050 kitti00_0000-0090]

A clip is a folder of ``../shared/data`` or a path to any KITTI-layout sequence with ``poses.txt``
(e.g. a ``vo-synth`` render with ``--config demo``).

Runs ``vo-run SEQ --config kitti --scale triangulation`` (or the ``--config`` layers given) on each clip (``kitti_accuracy.py``'s
``vo_run_report``), then scores the written trajectory's consecutive pairs two ways:
``vo_app.geometry.se3.rotation_angle`` (``atan2`` of the axis part and the cosine part, what
``vo-eval`` and ``report.json`` use) and ``arccos((tr R - 1) / 2)`` (the form used before;
ill-conditioned for small angles).  Prints the median of each, the median and largest per-pair
difference, and how far the ground truth's rotations are from orthonormal (KITTI's ``poses.txt``
has 7 significant digits).  README "Results" quotes it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import DATA, vo_run_report  # noqa: E402

from vo_app.eval.ate import pair_errors, relative_motions  # noqa: E402
from vo_app.io import read_kitti  # noqa: E402


def arccos_angles(gt: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Per-pair rotation error (deg) with ``arccos`` of the trace alone, pairs as in ``pair_errors``."""
    rel_g, rel_e = relative_motions(gt), relative_motions(est)
    M = np.einsum("nji,njk->nik", rel_e[:, :3, :3], rel_g[:, :3, :3])
    return np.degrees(np.arccos(np.clip((np.trace(M, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", nargs="+", default=["kitti06_0000-0050", "kitti01_0000-0050", "kitti00_0000-0090"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", nargs="+", default=["kitti"], help="vo-run --config layers (presets or YAML paths)")
    args = ap.parse_args()
    layers = tuple(x for c in args.config for x in ("--config", c))
    print("| clip | median rot. err, atan2 (deg) | arccos of the trace (deg) | per-pair difference: median / max (deg) "
          "| GT: median / max of ‖RᵀR - I‖ |")
    print("|---|---|---|---|---|")
    for clip in args.clips:
        seq = DATA / clip
        if not seq.is_dir():
            print(f"| {clip} | missing ({seq}) | | | |")
            continue
        poses: list = []
        vo_run_report(seq, layers, args.seed, poses=poses)
        gt = read_kitti(seq / "poses.txt")
        est = poses[0]
        new = pair_errors(gt, est)["rot_deg"]
        old = arccos_angles(gt, est)
        R = gt[:, :3, :3]
        dev = np.linalg.norm(np.einsum("nji,njk->nik", R, R) - np.eye(3), axis=(1, 2))
        d = np.abs(old - new)
        print(f"| {clip} | {np.median(new):.4f} | {np.median(old):.4f} | {np.median(d):.4f} / {d.max():.4f} "
              f"| {np.median(dev):.1e} / {dev.max():.1e} |")


if __name__ == "__main__":
    main()
