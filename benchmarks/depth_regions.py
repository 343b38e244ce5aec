"""Where a depth network errs on the KITTI Velodyne frames: road points against everything else.

    python benchmarks/depth_regions.py --weights weights/depth_small_cpu.pt [--weights W ...]

For each checkpoint, the 5 raw-drive frames of ``vo-eval depth --data kitti`` (no crop, 80 m cap)
are predicted and median-scaled per image as there; the absolute relative error of each Velodyne
point is then averaged over the points of each class. A point is *road* when it lies within
``--band`` metres of the plane ``--height`` below the camera (KITTI's camera: 1.65 m), measured
along the image's vertical axis; *near* / *far* split at 15 m. Prints a Markdown table.
"""
from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", action="append", required=True, help="a depth checkpoint (repeatable)")
    ap.add_argument("--height", type=float, default=1.65, help="camera height above the road (m)")
    ap.add_argument("--band", type=float, default=0.25, help="half-width of the road class (m)")
    args = ap.parse_args()
    from vo_app.eval.depth.datasets import DATA_FOLDERS, default_shared_root, kitti_raw_dataset
    from vo_app.models.checkpoint import load_depth_model
    from vo_app.models.depth.predictor import DepthPredictor

    ds = kitti_raw_dataset(default_shared_root() / DATA_FOLDERS["kitti"])
    print(f"KITTI Velodyne ({len(ds.samples)} frames), AbsRel median-scaled per image, mean over the points of each class\n")
    print("| weights | all | road | not road | near (< 15 m) | far (>= 15 m) | points road / not road |")
    print("|---|---|---|---|---|---|---|")
    for w in args.weights:
        model, ck = load_depth_model(w)
        pred = DepthPredictor(model, tuple(ck["image_size"]), "cpu")
        err, road, near = [], [], []
        for smp in ds.samples:
            d = pred.predict([smp.image], smp.fx_ratio)[0].astype(np.float64)
            gt = smp.gt.astype(np.float64)
            ys, xs = np.nonzero((gt > 0) & (gt <= ds.cap))
            g = gt[ys, xs]
            p = np.clip(d[ys, xs] * np.median(g) / np.median(d[ys, xs]), 1e-3, ds.cap)
            below = (ys - smp.K[1, 2]) / smp.K[1, 1] * g  # metres below the camera centre (y down)
            err.append(np.abs(p - g) / g)
            road.append(np.abs(below - args.height) < args.band)
            near.append(g < 15.0)
        e, r, n = (np.concatenate(x) for x in (err, road, near))
        print(f"| {w} | {e.mean():.3f} | {e[r].mean():.3f} | {e[~r].mean():.3f} | {e[n].mean():.3f} | "
              f"{e[~n].mean():.3f} | {int(r.sum())} / {int((~r).sum())} |")


if __name__ == "__main__":
    main()
