"""The geometry core on CUDA against its CPU kernels: sampling + RANSAC + pose per pair, batched.

Usage:  python benchmarks/bench_geometry_gpu.py [--pairs 48] [--repeat 5]

Needs a CUDA build of vo_app._core and a visible GPU (it says so and exits 2 otherwise).  The
matches are those of benchmarks/bench_geometry.py: real DIS flow at 832x256 with its
match scores, on a synthetic forward drive rendered by vo_app.synth (exact poses), and on
../shared/data/kitti06_0000-0050 when present.  For each batch size the same flows go through
``vo_app.geometry.batched`` once as CPU tensors (threaded C++ kernels) and once as CUDA
tensors (the CUDA kernels; inputs already on the GPU, synchronised before the clock stops).
Prints a Markdown table: time per pair (median over repeats), the CUDA/CPU speed-up, and the
median rotation and translation-direction errors against ground truth of each path (the two
paths draw their random samples differently, so they agree in accuracy, not bit for bit).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_geometry import SIZE, errors, estimate, match_sets  # noqa: E402

from vo_app import geometry as geo  # noqa: E402


def timed(device: str, flows, scores, K, batch: int, repeat: int):
    """Seconds per pair (median over ``repeat``) and the last run's poses, all pairs in chunks of ``batch``."""
    fl = torch.from_numpy(flows).permute(0, 3, 1, 2).contiguous().to(device)
    sc = torch.from_numpy(scores).contiguous().to(device)
    Kb = torch.from_numpy(np.broadcast_to(K, (len(flows), 3, 3)).copy()).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times, poses = [], None
    for rep in range(repeat + 1):  # the first round warms up (allocations, code paths), not counted
        sync()
        t0 = time.perf_counter()
        out = [estimate(fl[i:i + batch], sc[i:i + batch], Kb[i:i + batch], seed=i) for i in range(0, len(fl), batch)]
        sync()
        if rep:
            times.append((time.perf_counter() - t0) / len(fl))
        poses = (torch.cat([o[0] for o in out]).cpu().numpy(), torch.cat([o[1] for o in out]).cpu().numpy())
    return float(np.median(times)), poses


def accuracy(poses, rel) -> tuple[float, float]:
    errs = np.array([errors(R, t, g) for R, t, g in zip(*poses, rel)])
    return float(np.median(errs[:, 0])), float(np.median(errs[:, 1]))


def bench(name: str, flows, scores, K, rel, repeat: int) -> None:
    print(f"\n### {name}: {len(flows)} pairs at {SIZE[0]}x{SIZE[1]}, 6,000 matches per pair\n")
    print("| batch | CPU ms/pair | CUDA ms/pair | CUDA speed-up | rot err CPU / CUDA (deg) | dir err CPU / CUDA (deg) |")
    print("|---|---|---|---|---|---|")
    for batch in (1, 8, len(flows)):
        t_cpu, p_cpu = timed("cpu", flows, scores, K, batch, repeat)
        t_gpu, p_gpu = timed("cuda", flows, scores, K, batch, repeat)
        (rc, dc), (rg, dg) = accuracy(p_cpu, rel), accuracy(p_gpu, rel)
        print(f"| {batch} | {t_cpu * 1e3:.3f} | {t_gpu * 1e3:.3f} | {t_cpu / t_gpu:.2f}x | {rc:.4f} / {rg:.4f} | "
              f"{dc:.3f} / {dg:.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    core = geo._ext._core
    if not (torch.cuda.is_available() and core is not None and getattr(core, "cuda_compiled", False)
            and core.cuda_device_count() > 0):
        print("bench_geometry_gpu: error: needs a visible CUDA GPU and vo_app._core built with CUDA; "
              "run it on a GPU machine after scripts/install.sh", file=sys.stderr)
        return 2
    print(f"GPU: {torch.cuda.get_device_name(0)}; CPU threads: {torch.get_num_threads()}")
    for name, data in match_sets(args.pairs):
        bench(name, *data, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
