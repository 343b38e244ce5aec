"""Accuracy on handheld 30 Hz video: 7-Scenes redkitchen frames 0-299 at stride 1 and 5.

Usage: .venv/bin/python benchmarks/indoor_accuracy.py [--seed 0 1] [--strides 1 5]
       [--rows NAME ...] [--clip 7scenes_redkitchen_0000-0299] [--dis medium|fullres|...]

Rows (``--rows`` picks some):

- ``triangulation``: ``vo-run SEQ --config indoor --stride S`` (scale from the triangulation chain,
  with the preset's keyframes, ``keyframe_parallax_px: 3``, and ``scale_memory_fill: always``);
- ``no keyframes``: the same with ``keyframe_parallax_px: 0`` and ``scale_memory_fill: sparse``
  (the generic defaults);
- ``rgbd``: ``--scale rgbd``: 7-Scenes' raw Kinect depth (every 5th frame, not registered to the
  colour image, used as if it were), with the PnP fallback against it (``depth_fallback: pnp``, the default);
- ``rgbd, PnP + direct``: the same with ``depth_fallback: pnp+direct`` (the direct photometric
  refinement after PnP, the default before ``pnp``);
- ``rgbd, no depth fallback``: the same with ``depth_fallback: none``;
- ``OpenCV chain``: the plain OpenCV chain of ``benchmarks/e2e_speed.py`` (DIS medium, top 20 %
  forward-backward score then 6,000 matches, ``findEssentialMat`` + ``recoverPose``) at the
  indoor preset's 320x240, unit translation norms.

``--dis P`` adds ``--dis P`` to every ``vo-run`` row (the indoor preset's DIS preset otherwise);
the OpenCV chain always uses DIS medium.

Columns: median per-pair rotation and translation-direction error and Sim(3)-aligned ATE
(``vo_app.cli.summary.trajectory_accuracy``, what ``vo-run --eval`` prints), and for ``vo-run``
the median over pairs of ``report.json``'s ``parallax_px`` (median parallax after rotation).  No run sees the
ground truth.  With several seeds, a second table gives each row's median ATE over them (the
seed moves the sampling and RANSAC; on this clip the ATE of one configuration spreads over 2-4x
across seeds, so compare medians).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_speed import run_opencv  # noqa: E402
from kitti_accuracy import DATA, accuracy  # noqa: E402

from vo_app.io import open_sequence  # noqa: E402

CLIP = "7scenes_redkitchen_0000-0299"
ROWS = {
    "triangulation": ((), ()),
    "no keyframes": ((), ("keyframe_parallax_px: 0", "scale_memory_fill: sparse")),
    "rgbd": (("--scale", "rgbd"), ()),
    "rgbd, PnP + direct": (("--scale", "rgbd"), ("depth_fallback: pnp+direct",)),
    "rgbd, no depth fallback": (("--scale", "rgbd"), ("depth_fallback: none",)),
}


def vo_run(seq: Path, stride: int, seed: int, args: tuple, settings: tuple, dis: str | None = None) -> dict:
    """``vo-run SEQ --config indoor [--config SETTINGS] --stride S --seed N ARGS --quiet``; its report.json."""
    with tempfile.TemporaryDirectory() as tmp:
        layers = ["--config", "indoor"]
        if settings:
            cfg = Path(tmp) / "cfg.yaml"
            cfg.write_text("".join(f"{s}\n" for s in settings))
            layers += ["--config", str(cfg)]
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "vo_app.cli.run", str(seq), "--out", str(out), *layers,
               "--stride", str(stride), "--seed", str(seed), "--quiet", *args, *(("--dis", dis) if dis else ())]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return json.loads((out / "report.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=CLIP)
    ap.add_argument("--strides", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument("--dis", default=None, help="DIS preset for the vo-run rows (default: the indoor preset's)")
    ap.add_argument("--rows", nargs="+", default=list(ROWS) + ["OpenCV chain"],
                    choices=list(ROWS) + ["OpenCV chain"])
    args = ap.parse_args()
    seq = DATA / args.clip
    if not seq.is_dir():
        sys.exit(f"{seq} not found")
    print("| method | stride | seed | rot. err (deg) | t-dir err (deg) | ATE Sim(3) (m) | median parallax (px) | fallbacks |")
    print("|---|---|---|---|---|---|---|---|")
    ates: dict[tuple[str, int], list[float]] = {}
    for stride in args.strides:
        gt = np.asarray(open_sequence(seq, size=(320, 240), stride=stride).gt_poses)
        for name in args.rows:
            for seed in args.seed:
                if name == "OpenCV chain":
                    with tempfile.TemporaryDirectory() as tmp:
                        _, _, est = run_opencv(seq, Path(tmp), seed, size=(320, 240), stride=stride)
                    a, fb, par = accuracy(gt, est), "-", "-"
                else:
                    rep = vo_run(seq, stride, seed, *ROWS[name], dis=args.dis)
                    a = rep["accuracy"]
                    fb = ", ".join(f"{k} {v}" for k, v in sorted(rep["totals"]["fallbacks"].items())) or "none"
                    par = f"{np.median([p.get('parallax_px', 0.0) for p in rep['pairs']]):.2f}"
                ates.setdefault((name, stride), []).append(a["ate_rmse_m"])
                print(f"| {name} | {stride} | {seed} | {a['median_rot_err_deg']:.3f} | {a['median_tdir_err_deg']:.2f} | "
                      f"{a['ate_rmse_m']:.4f} | {par} | {fb} |", flush=True)

    if len(args.seed) > 1:
        print(f"\nMedian over seeds {' '.join(map(str, args.seed))}:\n")
        print("| method | stride | median ATE Sim(3) (m) | min - max |")
        print("|---|---|---|---|")
        for (name, stride), v in ates.items():
            print(f"| {name} | {stride} | {np.median(v):.4f} | {min(v):.4f} - {max(v):.4f} |")


if __name__ == "__main__":
    main()
