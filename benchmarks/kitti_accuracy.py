"""Accuracy table of ``vo-run`` on the shared KITTI clips (no ground truth is used by the run).

Usage: .venv/bin/python benchmarks/kitti_accuracy.py [--preset kitti] [--dis medium|fine] [--seed 0 ...]
       [--clips kitti06_0000-0050 kitti01_0000-0050 kitti00_0000-0090] [--set KEY=VALUE ...]
Prints a Markdown table: median per-pair rotation / translation-direction error and
Sim(3)-aligned ATE (evo), next to the baseline of ../shared/data/README.md; with several seeds,
a last row per clip gives each column's median over the seeds.

``benchmarks/e2e_speed.py`` imports ``DATA``, ``BASELINE``, ``CLIPS`` and :func:`accuracy` from here.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from vo_app.cli.summary import trajectory_accuracy

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: The baseline of ../shared/data/README.md: median rotation error (deg), median t-dir error (deg), ATE with
#: constant translation norms (m).
BASELINE = {"kitti06_0000-0050": (0.080, 0.80, 0.053), "kitti01_0000-0050": (0.057, 2.20, 0.532)}
CLIPS = tuple(BASELINE)


def accuracy(gt: np.ndarray, est: np.ndarray) -> dict:
    """What ``vo-run`` writes as ``accuracy`` in report.json (the same function): Sim(3) ATE (m), median
    per-pair rotation and translation-direction errors (deg), for any ``[N,4,4]`` estimate."""
    return trajectory_accuracy(np.asarray(gt), np.asarray(est))


def vo_run_report(seq: Path, preset: "str | tuple[str, ...]" = "kitti", seed: int = 0,
                  extra: tuple[str, ...] = (), poses: "list | None" = None) -> dict:
    """``vo-run SEQ --config PRESET --scale triangulation --seed SEED --quiet`` in a subprocess; its report.json.
    ``preset`` may also be ready ``--config`` arguments, e.g. ``("--config", "kitti", "--config", "x.yaml")``.
    ``poses``: a list that receives the estimated trajectory ``[N,4,4]``."""
    layers = ("--config", preset) if isinstance(preset, str) else tuple(preset)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "vo_app.cli.run", str(seq), "--out", str(out), *layers,
               "--scale", "triangulation", "--seed", str(seed), "--quiet", *extra]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        if poses is not None:
            from vo_app.io.trajectory import read_kitti

            poses.append(read_kitti(out / "trajectory_kitti.txt"))
        return json.loads((out / "report.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="kitti")
    ap.add_argument("--dis", default=None, help="override dis_preset")
    ap.add_argument("--seed", type=int, nargs="+", default=[0],
                    help="seeds of the match sampling and RANSAC; one row per sequence and seed")
    ap.add_argument("--clips", nargs="+", default=list(CLIPS), help="folders of ../shared/data (baseline: 06 and 01 only)")
    ap.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE",
                    help="preset options to override, e.g. scale_lk_min_parallax_deg=0 or dis_backward_preset=fast")
    ap.add_argument("--per-pair", metavar="JSON", help="also write every run's per-pair rotation and direction "
                    "errors here (for benchmarks/paired_compare.py)")
    args = ap.parse_args()
    per_pair = {}
    extra = "".join(f"\n{kv.split('=', 1)[0]}: {kv.split('=', 1)[1]}" for kv in args.settings)
    if args.dis:
        extra += f"\ndis_preset: {args.dis}"
    rows = []
    clips = [(c, BASELINE.get(c, (float("nan"),) * 3)) for c in args.clips]
    for (name, (b_rot, b_tdir, b_ate)), seed in ((item, s) for item in clips for s in args.seed):
        seq = DATA / name
        if not seq.is_dir():
            print(f"skip {name}: {seq} not found", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            layers = ("--config", args.preset)  # a preset name (vo_app/configs/) or a YAML path
            if extra:
                cfg = Path(tmp) / "cfg.yaml"
                cfg.write_text(extra + "\n")
                layers += ("--config", str(cfg))  # the settings on top of the preset
            est = []
            rep = vo_run_report(seq, layers, seed, poses=est)
        if args.per_pair:
            from vo_app.eval import pair_errors
            from vo_app.io import open_sequence

            gt = np.asarray(open_sequence(seq).gt_poses)[: len(est[0])]
            pe = pair_errors(gt, est[0])
            per_pair.setdefault(name, {})[str(seed)] = {"rot_deg": pe["rot_deg"].tolist(),
                                                         "tdir_deg": pe["tdir_deg"].tolist()}
        a = rep["accuracy"]
        rows.append((name if len(args.seed) == 1 else f"{name} seed {seed}", a["median_rot_err_deg"], b_rot, a["median_tdir_err_deg"], b_tdir, a["ate_rmse_m"], b_ate,
                     rep["totals"]["frames_per_s"]))
    if len(args.seed) > 1:  # one more row per clip: the median over the seeds (each column on its own)
        for name, _ in clips:
            mine = [r for r in rows if r[0].startswith(f"{name} seed ")]
            if mine:
                med = np.median(np.array([r[1:] for r in mine], float), axis=0)
                rows.append((f"{name} **median of {len(mine)} seeds**", *med))
    if args.per_pair:
        from vo_app.io.atomic import atomic_write_json

        atomic_write_json(args.per_pair, {"settings": args.settings, "dis": args.dis, "preset": args.preset,
                                          "clips": per_pair})
    print("| sequence | rot. err (deg) ours / baseline | t-dir err (deg) ours / baseline | ATE Sim(3) (m) ours / baseline const-norm | frames/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.4f} / {r[2]:.3f} | {r[3]:.3f} / {r[4]:.2f} | {r[5]:.4f} / {r[6]:.3f} | {r[7]:.2f} |")


if __name__ == "__main__":
    main()
