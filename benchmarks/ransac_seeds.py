"""Median rotation error of the raw RANSAC pose over several seeds, next to FM_RANSAC, on KITTI 06.

Usage: .venv/bin/python benchmarks/ransac_seeds.py [--pairs 48] [--seeds 3]
Same matches as bench_geometry.py (DIS medium, 832x256, 6,000 per pair).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_geometry import DATA, REFS, errors, load_pairs, opencv  # noqa: E402

from vo_app.geometry import batched  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=48)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    flows, scores, K, rel = load_pairs(DATA / "kitti06_0000-0050", args.pairs)
    B = len(flows)
    m = batched.sample_matches(torch.from_numpy(flows).permute(0, 3, 1, 2), torch.from_numpy(scores), 6000, 0.2,
                               seed=np.arange(B))
    Kb = torch.from_numpy(np.broadcast_to(K, (B, 3, 3)).copy())
    ours, ref = [], []
    for seed in range(args.seeds):
        r = batched.ransac_fundamental(m.p1, m.p2, threshold=0.1, confidence=0.99, seed=seed, check_planar=False)
        R, t, _, _ = batched.pose_from_fundamental(r.F, Kb, m.p1, m.p2, r.inliers)
        ours.append(np.median([errors(R[i].numpy(), t[i].numpy(), rel[i])[0] for i in range(B)]))
        cv2.setRNGSeed(seed)
        P1, P2 = m.p1.numpy(), m.p2.numpy()
        ref.append(np.median([errors(*opencv(REFS[0], P1[i], P2[i], K), rel[i])[0] for i in range(B)]))
    print("| seed | vo_app RANSAC + pose (deg) | FM_RANSAC + recoverPose (deg) |")
    print("|---|---|---|")
    for s, (a, b) in enumerate(zip(ours, ref)):
        print(f"| {s} | {a:.4f} | {b:.4f} |")


if __name__ == "__main__":
    main()
