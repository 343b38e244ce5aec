"""Is flow B better than flow A on a KITTI clip, beyond the noise of the seeds and the pairs?

    python benchmarks/kitti_accuracy.py --seed 0 1 2 3 4 5 6 7 8 9 --per-pair A.json [--set ...]
    python benchmarks/kitti_accuracy.py --seed 0 1 2 3 4 5 6 7 8 9 --per-pair B.json --set ...
    python benchmarks/paired_compare.py A.json B.json [--draws 2000]

Both files must hold the same clips and seeds. For each clip and error (per-pair rotation and
translation direction, degrees), prints: the median over the seeds of each run's median (what
``kitti_accuracy.py`` reports), the share of (seed, pair) cells where B's error is below A's, and a
95 % bootstrap interval of ``median_B - median_A`` (both medians over all cells). The bootstrap
draws frames, not cells: each draw picks pair indices with replacement and keeps all seeds of a
picked pair, the same indices for A and B, so that it respects that the seeds of one pair share
the same images and ground truth.
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def compare(a: np.ndarray, b: np.ndarray, draws: int, rng: np.random.Generator) -> dict:
    """``a, b [seeds, pairs]`` errors of two runs; the numbers of one table row."""
    pairs = a.shape[1]
    diffs = np.empty(draws)
    for k in range(draws):
        idx = rng.integers(0, pairs, pairs)
        diffs[k] = np.median(b[:, idx]) - np.median(a[:, idx])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"a": float(np.median(np.median(a, axis=1))), "b": float(np.median(np.median(b, axis=1))),
            "b_below": float(np.mean(b < a)), "diff": float(np.median(b) - np.median(a)), "lo": float(lo),
            "hi": float(hi)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="per-pair JSON of the reference run (kitti_accuracy.py --per-pair)")
    ap.add_argument("b", help="per-pair JSON of the candidate")
    ap.add_argument("--draws", type=int, default=2000)
    args = ap.parse_args()
    A, B = (json.load(open(f)) for f in (args.a, args.b))
    print(f"A: {args.a} {A.get('settings') or ''}  B: {args.b} {B.get('settings') or ''}\n")
    print("| clip | error | A (median of seed medians) | B | B below A (cells) | median B - A | 95 % interval |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for clip in sorted(set(A["clips"]) & set(B["clips"])):
        seeds = sorted(set(A["clips"][clip]) & set(B["clips"][clip]), key=int)
        for err in ("rot_deg", "tdir_deg"):
            a = np.array([A["clips"][clip][s][err] for s in seeds])
            b = np.array([B["clips"][clip][s][err] for s in seeds])
            if a.shape != b.shape:
                raise SystemExit(f"{clip} {err}: {a.shape} vs {b.shape} (the runs must score the same pairs)")
            r = compare(a, b, args.draws, rng)
            print(f"| {clip} ({len(seeds)} seeds) | {err.split('_')[0]} | {r['a']:.4f} | {r['b']:.4f} | "
                  f"{100 * r['b_below']:.0f} % | {r['diff']:+.4f} | [{r['lo']:+.4f}, {r['hi']:+.4f}] |")


if __name__ == "__main__":
    main()
