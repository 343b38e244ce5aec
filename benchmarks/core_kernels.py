"""Each C++ kernel of the geometry core on its own, one thread, over the 48 pairs of
bench_geometry (synthetic forward driving and KITTI 06), straight through vo_app._core.

Usage: .venv/bin/python benchmarks/core_kernels.py [--repeat 15]

Per pair (minimum over repeats of the mean over 48 pairs, so a floor): sampling + gather
(cold inputs: 48 pairs do not fit the caches), RANSAC with its mean number of hypotheses,
pose from F; page faults per sampling call (fresh output memory); and the cost of one small
torch call in a loop against the same call after 4 ms of other work (cold code).
Talks to the raw bindings only, so an older build can be timed by putting it first on
PYTHONPATH (run from outside the repository).
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_geometry import DATA, SIZE, load_pairs  # noqa: E402

from vo_app import _core  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def kernels(name: str, flows, scores, K, repeat: int) -> None:
    B = len(flows)
    seeds = np.arange(B, dtype=np.uint64)
    fl = flows.transpose(0, 3, 1, 2)
    out = _core.sample_matches_cpu(scores, fl, 6000, 0.2, seeds, 1)
    p1, p2 = out[2], out[3]
    F, inl, _, iters, _ = _core.ransac_fundamental_cpu(p1, p2, None, 0.1, 0.99, 1000, seeds, 1)
    Kb = np.broadcast_to(K, (B, 3, 3)).copy()
    mask = inl.view(np.uint8)
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t_sample = best(lambda: _core.sample_matches_cpu(scores, fl, 6000, 0.2, seeds, 1), repeat)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / repeat
    t_ransac = best(lambda: _core.ransac_fundamental_cpu(p1, p2, None, 0.1, 0.99, 1000, seeds, 1), repeat)
    t_pose = best(lambda: _core.pose_from_fundamental_cpu(F, Kb, p1, p2, mask, 1), repeat)
    print(f"| {name} | {t_sample / B * 1e3:.3f} | {faults:.0f} | {t_ransac / B * 1e3:.3f} | {iters.mean():.1f} | "
          f"{t_pose / B * 1e3:.3f} |")


def cold_call_cost() -> tuple[float, float]:
    """Median time of torch.as_tensor(0) in a tight loop, and right after 4 ms of busy Python."""
    warm, cold = [], []
    for _ in range(50):
        t0 = time.perf_counter()
        torch.as_tensor(0)
        warm.append(time.perf_counter() - t0)
    for _ in range(50):
        t = time.perf_counter()
        while time.perf_counter() - t < 0.004:
            pass
        t0 = time.perf_counter()
        torch.as_tensor(0)
        cold.append(time.perf_counter() - t0)
    return float(np.median(warm)) * 1e6, float(np.median(cold)) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    print("| pairs (48, one thread) | sample+gather ms/pair | page faults per sampling call | RANSAC ms/pair | "
          "hypotheses | pose ms/pair |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        from vo_app.synth import write_sequence

        syn = write_sequence(Path(tmp) / "syn", layout="kitti", n_frames=49, width=SIZE[0], height=SIZE[1],
                             motion="forward", seed=1, write_flow=False)
        flows, scores, K, _ = load_pairs(syn, 48)
        kernels("synthetic", flows, scores, K, args.repeat)
    kitti = DATA / "kitti06_0000-0050"
    if kitti.is_dir():
        flows, scores, K, _ = load_pairs(kitti, 48)
        kernels("KITTI 06", flows, scores, K, args.repeat)
    warm, cold = cold_call_cost()
    print(f"\ntorch.as_tensor(0): {warm:.1f} us in a loop, {cold:.1f} us after 4 ms of other work (medians of 50)")


if __name__ == "__main__":
    main()
