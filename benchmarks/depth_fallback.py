"""Pose against the reference frame's depth: PnP, then the direct photometric refinement.

Usage: .venv/bin/python benchmarks/depth_fallback.py

Rendered pairs (``vo_app.synth``, 416x128, frames 0 -> 1 of the ``forward`` and ``handheld``
motions, scene seed 0) with the renderer's exact depth of frame 1 and DIS medium flow matches
on a 4-pixel grid (sky left out).  Rows: PnP (``vo_app/geometry/pnp.py``) alone, the direct
refinement (``vo_app/geometry/direct.py``) from the PnP pose, and the direct refinement from the
true pose perturbed by (0.5, -0.3, 0.4) deg and (3, -2, 5) cm.  Errors: rotation (deg) and
translation relative to the true step length; times in ms (one run).  What
``tests/test_depth_fallback.py`` checks, with its numbers printed.
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from vo_app.geometry.direct import refine_direct
from vo_app.geometry.pnp import pose_pnp
from vo_app.geometry.se3 import rotation_angle, so3_exp
from vo_app.models.dis import DISFlow
from vo_app.synth import default_intrinsics, make_scene, make_trajectory, render_frame

W, H = 416, 128


def errors(T: np.ndarray, T_gt: np.ndarray) -> tuple[float, float]:
    rot = float(np.degrees(rotation_angle(T[:3, :3] @ T_gt[:3, :3].T)))
    return rot, float(np.linalg.norm(T[:3, 3] - T_gt[:3, 3]) / np.linalg.norm(T_gt[:3, 3]))


def main() -> None:
    print("| motion | step (m) | method | rot. err (deg) | t err (% of step) | ms |")
    print("|---|---|---|---|---|---|")
    for kind in ("forward", "handheld"):
        scene = make_scene(0, kind, length=60.0)
        poses, _ = make_trajectory(kind, 3, seed=0)
        intr = default_intrinsics(W, H)
        K = np.array([[intr.fx, 0, intr.cx], [0, intr.fy, intr.cy], [0, 0, 1.0]])
        (rgb1, d1), (rgb2, _) = [render_frame(scene, intr, poses[i]) for i in (0, 1)]
        T_gt = np.linalg.inv(poses[1]) @ poses[0]
        flow, _ = DISFlow("medium")(rgb1, rgb2)
        ys, xs = np.mgrid[4:H - 4:4, 4:W - 4:4]
        p1 = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
        p2 = p1 + flow[ys.ravel(), xs.ravel()]
        depth = d1[ys.ravel(), xs.ravel()].astype(np.float64)
        depth[depth <= 0] = np.nan
        g1, g2 = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (rgb1, rgb2))
        P = np.eye(4)
        P[:3, :3] = so3_exp(np.radians([0.5, -0.3, 0.4]))
        P[:3, 3] = [0.03, -0.02, 0.05]
        step = float(np.linalg.norm(T_gt[:3, 3]))
        t0 = time.perf_counter()
        pnp = pose_pnp(p1, p2, depth, K)
        rows = [("PnP", pnp.T, time.perf_counter() - t0)]
        t0 = time.perf_counter()
        rows.append(("PnP + direct", refine_direct(g1, g2, d1, K, pnp.T).T, time.perf_counter() - t0))
        start = P @ T_gt
        rows.insert(0, ("perturbed start", start, 0.0))
        t0 = time.perf_counter()
        rows.append(("direct from the perturbed start", refine_direct(g1, g2, d1, K, start).T, time.perf_counter() - t0))
        for name, T, sec in rows:
            rot, tr = errors(T, T_gt)
            print(f"| {kind} | {step:.3f} | {name} | {rot:.4f} | {100 * tr:.2f} | {1000 * sec:.1f} |")


if __name__ == "__main__":
    main()
