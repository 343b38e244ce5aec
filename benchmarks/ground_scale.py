"""Per-pair scale sources against the ground truth on the KITTI clips (what README "Scale sources" says
about the ground plane and the start of KITTI 00).

Usage: .venv/bin/python benchmarks/ground_scale.py [--clips kitti00_0000-0090 kitti01_0000-0050 kitti06_0000-0050]
       [--set KEY=VALUE ...]   (preset options for every run, e.g. dis_preset=fine)

For each clip, ``vo-run SEQ --config kitti --scale fused`` (ground plane, camera height 1.65 m; the
back end's window) is run in this process.  Printed per clip: the ground-plane norm / GT pair length
as measured (median, first pair, median of pairs 1-5 and of the last 5), the chain's pair-to-pair
ratios of the first six pairs, and the written step length / GT (the trajectory file, the window's
final poses): pairs 1-10 and the median from pair 20 on.  Then the chain alone (``--scale triangulation``) on 40 frames of KITTI 00 started at frame
0, 10 and 20: its norm / GT, relative to its first pair, at pairs 1, 13 and 25.  No run sees the
ground truth; it is only read here to score them.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import DATA  # noqa: E402

from vo_app.io import open_sequence, read_kitti  # noqa: E402
from vo_app.pipeline.config import load_config  # noqa: E402
from vo_app.pipeline.odometry import run_odometry  # noqa: E402


def pair_ratios(report: dict, gt: np.ndarray, value) -> np.ndarray:
    """``value(pair)`` / GT length of the pair, over the posed pairs (NaN where ``value`` is None)."""
    out = []
    for p in report["pairs"]:
        g = np.linalg.norm(gt[p["frame"], :3, 3] - gt[p["ref"], :3, 3])
        v = value(p)
        out.append(np.nan if v is None or g <= 0 else v / g)
    return np.asarray(out, float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="+", default=["kitti00_0000-0090", "kitti01_0000-0050", "kitti06_0000-0050"])
    ap.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.settings)
    f3 = lambda a: " ".join(f"{x:.3f}" for x in a)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for clip in args.clips:
            cfg = load_config("kitti", **{**extra, "scale": "fused"})
            seq = open_sequence(DATA / clip, size=cfg.size)
            gt = np.asarray(seq.gt_poses)
            raw = run_odometry(seq, cfg, tmp / "raw")
            ground = pair_ratios(raw, gt, lambda p: p.get("scale_sources", {}).get("ground", {}).get("value"))
            chain = [p.get("scale_sources", {}).get("chain", {}).get("ratio") for p in raw["pairs"][:6]]
            est = read_kitti(tmp / "raw" / "trajectory_kitti.txt")
            written = pair_ratios(raw, gt, lambda p: float(np.linalg.norm(est[p["frame"], :3, 3] - est[p["ref"], :3, 3])))
            print(f"{clip}: ground/GT median {np.nanmedian(ground):.3f}, first {ground[0]:.3f}, pairs 1-5 "
                  f"{np.nanmedian(ground[:5]):.3f}, last 5 {np.nanmedian(ground[-5:]):.3f}; chain ratios of pairs 1-6: "
                  f"{' '.join('-' if c is None else f'{c:.4f}' for c in chain)}; written norm/GT pairs 1-10: "
                  f"{f3(written[:10])}, median from pair 20: {np.nanmedian(written[19:]):.3f}")
        for start in (0, 10, 20):
            cfg = load_config("kitti", **{**extra, "scale": "triangulation"})
            seq = open_sequence(DATA / "kitti00_0000-0090", size=cfg.size, start=start, max_frames=40)
            rep = run_odometry(seq, cfg, tmp / f"s{start}")
            r = pair_ratios(rep, np.asarray(seq.gt_poses), lambda p: p.get("scale"))
            print(f"kitti00 from frame {start}, chain norm/GT relative to its first pair at pairs 1, 13, 25: "
                  f"{f3(r[[0, 12, 24]] / r[0])}")


if __name__ == "__main__":
    main()
