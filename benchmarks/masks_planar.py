"""Time of the runtime's masks and of the batched planar check against the code they replaced.

Usage: .venv/bin/python benchmarks/masks_planar.py [--repeat 7]

On KITTI 06 frames 0-16 (DIS medium at 832x256, 16 pairs): ms per pair of
``_reference/flow_masks.match_score`` (the NumPy reference) and the C++ kernel the runtime uses
(``vo_app.geometry.match_score``), with and without ``vo_app.pipeline.alloc.keep_freed_memory`` (the allocator setting
``vo-run`` makes), and, on the 6,000 matches sampled per pair, the batch-16 RANSAC with
``check_planar=False`` next to the planar check alone: ``flag_planar`` (the C++ kernel), ``planar_pairs``
(NumPy, all pairs at once) and ``flag_planar_loop`` (pair by pair); and the geometry API with its
default settings (sampling, RANSAC with the planar check, pose) at batch 16.  Medians over ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vo_app import geometry as geo
from vo_app.geometry import batched
from vo_app.geometry._reference.flow_masks import match_score
from vo_app.geometry._reference.planar import flag_planar_loop, planar_pairs
from vo_app.io import open_sequence
from vo_app.models.dis import DISFlow

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kitti06_0000-0050"


def _median_ms(fn, repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--tuned", action="store_true", help=argparse.SUPPRESS)  # the child run, allocator tuned
    args = ap.parse_args()
    if not args.tuned:
        print(f"load average (1 min) {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}\n")
        print("| what | ms per pair |")
        print("|---|---|")
    if args.tuned:
        from vo_app.pipeline.alloc import keep_freed_memory

        keep_freed_memory()
    seq = open_sequence(DATA, size=(832, 256))
    frames = [f.image for _, f in zip(range(17), seq)]
    dis = DISFlow("medium")
    flows = [dis(frames[i], frames[i + 1]) for i in range(16)]
    tag = "vo-run's allocator setting" if args.tuned else "default allocator"
    ref = _median_ms(lambda: [match_score(f, b) for f, b in flows], args.repeat) / 16
    print(f"| masks, match_score (reference), {tag} | {ref:.2f} |")
    tt = [tuple(torch.from_numpy(x).permute(2, 0, 1)[None] for x in fb) for fb in flows]
    cpp = _median_ms(lambda: [geo.match_score(f, b) for f, b in tt], args.repeat) / 16
    print(f"| masks, C++ kernel (runtime: vo_app.geometry.match_score), {tag} | {cpp:.2f} |")
    if args.tuned:
        return
    flow = torch.from_numpy(np.stack([f for f, _ in flows])).permute(0, 3, 1, 2)
    score = torch.cat([geo.match_score(f, b).score for f, b in tt])
    m = batched.sample_matches(flow, score, 6000, 0.2, seed=np.arange(16))
    kw = dict(threshold=0.1, confidence=0.99, seed=np.arange(16), check_planar=False)
    ransac = _median_ms(lambda: batched.ransac_fundamental(m.p1, m.p2, **kw), args.repeat) / 16
    res = batched.ransac_fundamental(m.p1, m.p2, **kw)

    def check(fn):
        r = batched.RansacResult(res.F, res.inliers, res.n_inliers, res.iters, res.status.clone())
        fn(r, m.p1, m.p2, 0.1)
        return r

    new = _median_ms(lambda: check(batched.flag_planar), args.repeat) / 16
    x1, x2 = m.p1.numpy()[res.status.numpy() == 0], m.p2.numpy()[res.status.numpy() == 0]
    inl = res.inliers.numpy()[res.status.numpy() == 0]
    vec = _median_ms(lambda: planar_pairs(x1, x2, inl, 0.5), args.repeat) / 16
    old = _median_ms(lambda: check(flag_planar_loop), args.repeat) / 16
    same = check(batched.flag_planar).status.tolist() == check(flag_planar_loop).status.tolist()
    same &= bool((planar_pairs(x1, x2, inl, 0.5) == (check(batched.flag_planar).status.numpy()[
        res.status.numpy() == 0] == 3)).all())
    K = torch.from_numpy(np.broadcast_to(open_sequence(DATA, size=(832, 256)).intrinsics.K, (16, 3, 3)).copy())

    def api():  # the geometry API with its defaults: sampling, RANSAC with the planar check, pose
        mm = batched.sample_matches(flow, score, 6000, 0.2, seed=np.arange(16))
        r = batched.ransac_fundamental(mm.p1, mm.p2, threshold=0.1, confidence=0.99, seed=np.arange(16))
        return batched.pose_from_fundamental(r.F, K, mm.p1, mm.p2, r.inliers)

    total = _median_ms(api, args.repeat) / 16
    print(f"| RANSAC, batch 16, check_planar=False | {ransac:.3f} |")
    print(f"| planar check, flag_planar (C++ kernel, csrc/cpu/planar.cpp), batch 16 | {new:.3f} |")
    print(f"| planar check, planar_pairs (NumPy, all pairs at once), batch 16 | {vec:.3f} |")
    print(f"| planar check, flag_planar_loop (pair by pair, an SVD each), batch 16 | {old:.3f} |")
    print(f"| geometry API defaults: sample_matches + ransac_fundamental (planar check on) + pose_from_fundamental, batch 16 | {total:.3f} |")
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat), "--tuned"], check=True)
    print(f"\nplanar decisions identical: {same}; planar pairs: {int((check(batched.flag_planar).status == 3).sum())} of 16")


if __name__ == "__main__":
    main()
