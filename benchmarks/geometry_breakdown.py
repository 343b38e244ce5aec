"""Where the geometry core's time goes: each C++ kernel alone, one KITTI 06 pair, one thread.

Usage: .venv/bin/python benchmarks/geometry_breakdown.py
Minimum over 15 calls (warm caches), so it is a floor, not what a cold batched call sees.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_geometry import DATA, load_pairs, ours  # noqa: E402

from vo_app import _core  # noqa: E402


def tmin(f, n=15) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    flows, scores, K, _ = load_pairs(DATA / "kitti06_0000-0050", 2)
    m = ours(flows, scores, K)[2]
    P1, P2 = m.p1.numpy()[:1], m.p2.numpy()[:1]
    s1 = np.ascontiguousarray(scores[:1])
    idx, _ = _core.sample_topk_random_cpu(s1, 6000, 0.2, 0, 1)
    F, inl, _, _, _ = _core.ransac_fundamental_cpu(P1, P2, None, 0.1, 0.99, 1000, 0, 1)
    rows = {
        "sampling (top 20% of 213k pixels, 6,000 drawn)": tmin(lambda: _core.sample_topk_random_cpu(s1, 6000, 0.2, 0, 1)),
        "gather of the matches": tmin(lambda: _core.gather_matches_cpu(flows[:1].transpose(0, 3, 1, 2), idx, 1)),
        "RANSAC (incl. refits)": tmin(lambda: _core.ransac_fundamental_cpu(P1, P2, None, 0.1, 0.99, 1000, 0, 1)),
        "pose from F (E, 4 candidates, cheirality vote)": tmin(
            lambda: _core.pose_from_fundamental_cpu(F, K[None], P1, P2, inl.astype(np.uint8), 1)),
    }
    print("| kernel (1 thread, 1 pair) | ms |")
    print("|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {v:.3f} |")


if __name__ == "__main__":
    main()
