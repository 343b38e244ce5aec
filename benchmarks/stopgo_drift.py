"""Where the scale drift of the stop-and-go drive comes from: the flow, the depth, or the step length.

Usage: .venv/bin/python benchmarks/stopgo_drift.py [--depth-weights weights/depth_small_cpu.pt]
       [--frames 1500]

Runs ``vo-run DIR --config demo`` on the stop-and-go render of ``benchmarks/scale_modes.py``
(``vo-synth DIR --frames N --motion stopgo --seed 3 --layout kitti``, cached in
``runs/scale_bench/``) three ways:

- ``--scale fused --depth-weights W``: the preset's DIS flow and the depth network (the
  scale-drift issue's configuration);
- the same with the renderer's exact flow (``ExactFlow`` of ``vo_app/synth/flow.py`` as the flow
  backend): what is left when the flow is perfect;
- ``--scale rgbd`` with the preset's DIS flow: the renderer's exact depth instead of the network;
- ``--scale fused --camera-height 1.6`` (the ground plane), without and with the network.

Per run: Sim(3) ATE, the drift of ``vo-eval traj`` (``vo_app/eval/drift.py``: est/GT step ratio
normalised to the first 10 moving steps, running median over 5; end and worst), the
un-normalised est/GT ratio of the start (those 10 steps; 1 = metric), and, by the length of the
ground-truth step (``by_step_length`` of the drift: a held step's length is added to the next
one), how many steps are outside +-5 % of the start and the largest deviation there.

A second table looks at single pairs (``--pairs``, consecutive frames by default early in the
drive, at walking pace, and one at cruising speed) with the preset's DIS flow: the norm that the
depth alignment gives (``geometry/scale.py``'s robust ratio of depth to the pair's triangulated
depth, weighted by parallax^2 as at run time, and unweighted), over the ground truth's, with the
network's depth and with the renderer's; and the network's depth over the renderer's, on the
quarter of the points with the most parallax and on all, with the median image row of that
quarter (the image is 128 rows high: rows near 100 are the road in front of the car).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import accuracy  # noqa: E402
from scale_modes import synthetic  # noqa: E402

from vo_app.eval.drift import scale_drift  # noqa: E402
from vo_app.geometry.scale import robust_ratio  # noqa: E402
from vo_app.io import open_sequence, read_kitti  # noqa: E402
from vo_app.pipeline.config import load_config  # noqa: E402
from vo_app.pipeline.depth_scale import DepthScale  # noqa: E402
from vo_app.pipeline.odometry import run_odometry  # noqa: E402
from vo_app.pipeline.pair import estimate_pairs  # noqa: E402
from vo_app.pipeline.scale_chain import depth_at  # noqa: E402
from vo_app.synth.flow import ExactFlow  # noqa: E402

def pair_table(root: Path, weights: str, pairs: list[tuple[int, int]]) -> None:
    """The second table of the module docstring."""
    from vo_app.models.dis import DISFlow

    cfg = load_config("demo")
    seq = open_sequence(root, size=cfg.size)
    K, gt = seq.intrinsics.K, seq.gt_poses
    net, dis = DepthScale(weights, K, seq.size), DISFlow(cfg.dis_preset)
    print("| pair | GT step (m) | network: weighted / unweighted norm / GT | true depth: weighted / unweighted | "
          "network / true depth: most-parallax quarter / all | median row of that quarter |")
    print("|---|---|---|---|---|---|")
    for a, b in pairs:
        fa, fb = seq.load(a), seq.load(b)
        fwd, bwd = dis(fa.image, fb.image)
        res = estimate_pairs([fwd], [bwd], K, cfg, [b])[0]
        g = float(np.linalg.norm((np.linalg.inv(gt[a]) @ gt[b])[:3, 3]))
        if res.fallback is not None:
            print(f"| {a}-{b} | {g:.3f} | ({res.fallback}) | | | |")
            continue
        par = np.arccos(np.clip(res.cos_parallax, -1.0, 1.0))
        d_net, d_true = depth_at(net.depth(fa), res.p1), depth_at(fa.depth, res.p1)
        norms = [robust_ratio(d, res.depth1, cfg.min_scale_points, weights=w)[0] / g
                 for d in (d_net, d_true) for w in (par ** 2, None)]
        top = par > np.percentile(par, 75)
        ok = d_true > 0
        print(f"| {a}-{b} | {g:.3f} | {norms[0]:.3f} / {norms[1]:.3f} | {norms[2]:.3f} / {norms[3]:.3f} | "
              f"{np.median(d_net[top & ok] / d_true[top & ok]):.3f} / {np.median(d_net[ok] / d_true[ok]):.3f} | "
              f"{np.median(res.p1[top, 1]):.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth-weights", default="weights/depth_small_cpu.pt")
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--pairs", nargs="*", default=["14-15", "15-16", "18-19", "19-20", "100-101"],
                    help="frame pairs A-B of the second table")
    args = ap.parse_args()
    root = synthetic("stopgo", args.frames)
    runs = (("fused, depth network, DIS", {"scale": "fused", "depth_weights": args.depth_weights}, False),
            ("fused, depth network, exact flow", {"scale": "fused", "depth_weights": args.depth_weights}, True),
            ("rgbd (exact depth), DIS", {"scale": "rgbd"}, False),
            ("fused, ground plane (1.6 m), DIS", {"scale": "fused", "camera_height": 1.6}, False),
            ("fused, ground plane + depth network, DIS",
             {"scale": "fused", "camera_height": 1.6, "depth_weights": args.depth_weights}, False))
    header = False
    for name, overrides, exact in runs:
        cfg = load_config("demo", **overrides)
        seq = open_sequence(root, size=cfg.size)
        with tempfile.TemporaryDirectory() as tmp:
            run_odometry(seq, cfg, Path(tmp), flow_net=ExactFlow(seq) if exact else None)
            est = read_kitti(Path(tmp) / "trajectory_kitti.txt")
        gt = seq.gt_poses
        dr = scale_drift(gt[:, :3, 3], est[:, :3, 3])
        classes = dr["by_step_length"]  # vo_app/eval/drift.py: steps outside +-5 % by GT step length
        if not header:
            cols = " | ".join(f"{c['min_m']:g}-{c['max_m']:g} m" if c["max_m"] is not None else f">= {c['min_m']:g} m"
                              for c in classes)
            print(f"| run | ATE Sim(3) (m) | drift end | drift worst | est/GT at the start | "
                  f"outside +-5 %, by GT step: {cols} |")
            print("|---|---|---|---|---|" + "---|" * len(classes))
            header = True
        # the start ratio is in the estimate's units: metric for these runs (depth and rgbd scale)
        buckets = " | ".join(f"{c['outside']}/{c['steps']} ({abs(c['worst'] or 0):.2f})" for c in classes)
        print(f"| {name} | {accuracy(gt, est)['ate_rmse_m']:.3f} | {dr['end']:.3f} | {dr['worst']:+.3f} "
              f"(frame {dr['worst_frame']}) | {dr['start_ratio']:.3f} | {buckets} |", flush=True)
    print()
    pair_table(root, args.depth_weights, [tuple(int(v) for v in p.split("-")) for p in args.pairs])


if __name__ == "__main__":
    main()
