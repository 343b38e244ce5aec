"""Where the per-pair rotation error on the synthetic drives comes from: DIS medium, fullres, fine, exact flow.

Usage: .venv/bin/python benchmarks/rotation_bias.py [--frames 300] [--seed 3]

Renders ``vo-synth DIR --frames N --motion forward --seed S --layout kitti`` (416x128, cached in
``runs/rotation_bias/``) and runs ``vo-run DIR --config demo`` on it four times: with DIS medium, DIS fullres (the
preset's), DIS fine (``--dis fine``), and with the renderer's exact flow from its depth
and poses (``ExactFlow`` of ``vo_app/synth/flow.py``, given to ``run_odometry`` as its flow
backend).  Per run: the mean over pairs of each component of the rotation error (est vs ground
truth, as a rotation vector in the camera frame: x = pitch, y = yaw, z = roll; a mean that is
large against the standard deviation is a bias, which adds up along the trajectory where noise
partly cancels), their standard deviation, the median error norm, and the ATE with the ground
truth's step lengths put into the estimate (what rotation and direction errors alone cost), and
the flow's milliseconds per pair (forward and backward, one thread, timed around the backend).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import accuracy  # noqa: E402
from scale_modes import with_gt_norms  # noqa: E402

from vo_app.io import open_sequence, read_kitti  # noqa: E402
from vo_app.models.dis import DISFlow  # noqa: E402
from vo_app.pipeline.config import load_config  # noqa: E402
from vo_app.pipeline.odometry import run_odometry  # noqa: E402
from vo_app.synth import write_sequence  # noqa: E402
from vo_app.synth.flow import ExactFlow  # noqa: E402

CACHE = Path(__file__).resolve().parents[1] / "runs" / "rotation_bias"


class _Timed:
    """A flow backend that adds up the seconds its calls take."""

    def __init__(self, backend):
        self.backend, self.seconds, self.calls = backend, 0.0, 0

    def __call__(self, image1, image2):
        t0 = time.perf_counter()
        out = self.backend(image1, image2)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def rotation_errors(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``[N-1,3]`` rotation vectors (degrees) of ``R_gt^T R_est`` for each consecutive step."""
    out = []
    for k in range(1, len(est)):
        r_e = np.linalg.inv(est[k - 1]) @ est[k]
        r_g = np.linalg.inv(gt[k - 1]) @ gt[k]
        out.append(cv2.Rodrigues(r_g[:3, :3].T @ r_e[:3, :3])[0].ravel())
    return np.degrees(np.asarray(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    root = CACHE / f"forward_{args.frames}_s{args.seed}"
    if not (root / "poses.txt").is_file():
        print(f"rendering {root} ...", file=sys.stderr)
        write_sequence(root, layout="kitti", n_frames=args.frames, motion="forward", seed=args.seed, write_flow=False)
    print("| flow | mean error x / y / z (deg, pitch / yaw / roll) | std x / y / z (deg) | median norm (deg) | "
          "ATE with GT step lengths (m) | flow ms/pair |")
    print("|---|---|---|---|---|---|")
    for name, dis, exact in (("DIS medium", "medium", False), ("DIS fullres", "fullres", False),
                             ("DIS fine", "fine", False), ("exact flow", None, True)):
        cfg = load_config("demo", dis_preset=dis, pipeline=False)
        seq = open_sequence(root, size=cfg.size)
        net = _Timed(ExactFlow(seq) if exact else DISFlow(dis))
        with tempfile.TemporaryDirectory() as tmp:
            run_odometry(seq, cfg, Path(tmp), flow_net=net)
            est = read_kitti(Path(tmp) / "trajectory_kitti.txt")
        gt = seq.gt_poses
        e = rotation_errors(est, gt)
        ate = accuracy(gt, with_gt_norms(est, gt))["ate_rmse_m"]
        fmt = " / ".join
        print(f"| {name} | {fmt(f'{v:+.4f}' for v in e.mean(0))} | {fmt(f'{v:.4f}' for v in e.std(0))} | "
              f"{np.median(np.linalg.norm(e, axis=1)):.4f} | {ate:.3f} | {1000 * net.seconds / net.calls:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
