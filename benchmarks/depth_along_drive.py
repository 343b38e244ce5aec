"""The depth network's metric error along a rendered drive: median predicted / true depth per frame.

Usage: .venv/bin/python benchmarks/depth_along_drive.py SEQ [--weights weights/depth_small_cpu.pt]
       [--frames 936 940 ...] [--every 50]

``SEQ`` is a ``vo-synth`` folder (it has ``depth/``), e.g. ``runs/scale_bench/stopgo_1500_s3`` that
``benchmarks/scale_modes.py`` renders.  For each frame (``--frames``, or every ``--every``-th), the
network's depth at the working size against the renderer's (finite, 0-80 m): the median ratio over
the image and over its bottom third, and the median true depth.  A ratio that moves along the drive
is a scale error that no fusion with it can remove (README "Scale sources", the stop-and-go drive).
"""
from __future__ import annotations

import argparse

import numpy as np

from vo_app.io import open_sequence
from vo_app.models.depth.predictor import DepthPredictor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seq")
    ap.add_argument("--weights", default="weights/depth_small_cpu.pt")
    ap.add_argument("--frames", type=int, nargs="+", default=None)
    ap.add_argument("--every", type=int, default=50)
    args = ap.parse_args()
    seq = open_sequence(args.seq)
    W, H = seq.size
    pred = DepthPredictor.from_checkpoint(args.weights, "cpu")
    want = set(args.frames) if args.frames else set(range(0, len(seq), args.every))
    print("| frame | median predicted / true depth | same, bottom third of the image | median true depth (m) |")
    print("|---|---|---|---|")
    for frame in seq:
        if frame.index not in want:
            continue
        if frame.depth is None:
            raise SystemExit(f"{args.seq}: frame {frame.index} has no depth image (render it with vo-synth)")
        d = pred.predict([frame.image], seq.intrinsics.fx / W)[0]
        g = frame.depth
        ok = np.isfinite(g) & (g > 0) & (g < 80) & np.isfinite(d)
        low = ok.copy()
        low[: 2 * H // 3] = False
        print(f"| {frame.index} | {np.median(d[ok] / g[ok]):.3f} | {np.median(d[low] / g[low]):.3f} | "
              f"{np.median(g[ok]):.2f} |", flush=True)


if __name__ == "__main__":
    main()
