"""The multiple-masks ablation of the depth stage: one fine-tuning run per mask setting, same
steps and seed, each scored with ``vo-eval depth``'s library on KITTI Velodyne and synthetic frames.

    .venv/bin/python benchmarks/depth_ablation.py --init weights/depth_small_cpu.pt \
        --data ../shared/data/kitti00_0000-0090 --out runs/ablation

Prints a markdown table (median-scaled and metric AbsRel, d1) and writes ``ablation.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"none": [], "edge": ["edge"], "overlap": ["overlap"], "blank": ["blank"],
            "all three": ["edge", "overlap", "blank"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="depth checkpoint to fine-tune")
    ap.add_argument("--data", required=True, action="append", help="video folder(s) for the self-supervised losses")
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--config", default=str(REPO / "configs" / "train_depth_ablation.yaml"))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--synthetic-frames", type=int, default=48)
    ap.add_argument("--shared", default=None, help="data root (default: vo-eval depth's)")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()

    import yaml

    from vo_app.eval.depth import NetworkDepth, default_shared_root, evaluate_depth, standard_depth_datasets
    from vo_app.models.depth import DepthPredictor
    from vo_app.train.config import read_train_yaml

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = read_train_yaml(args.config, args.config)  # its extends: chain resolved (the copies go elsewhere)
    shared = Path(args.shared) if args.shared else default_shared_root()
    rows = {}
    datasets = None
    for name in ["init (no fine-tuning)"] + args.variants:
        if name == "init (no fine-tuning)":
            weights, secs = args.init, 0.0
        else:
            cfg = dict(base)
            cfg["loss"] = {**base.get("loss", {}), "masks": VARIANTS[name]}
            run = out / name.replace(" ", "_")
            cfg_path = out / f"{name.replace(' ', '_')}.yaml"
            cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            cmd = [sys.executable, "-m", "vo_app.cli.train", "depth", "--config", str(cfg_path), "--out", str(run),
                   "--init", args.init, "--quiet"] + [a for d in args.data for a in ("--data", d)]
            if args.steps is not None:
                cmd += ["--steps", str(args.steps)]
            if (run / "last.pt").exists():
                cmd += ["--resume"]
                cmd.remove("--init")
                cmd.remove(args.init)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=REPO)
            secs = time.perf_counter() - t0
            weights = str(run / "model.pt")
        pred = DepthPredictor.from_checkpoint(weights)
        if datasets is None:
            datasets, notes = standard_depth_datasets(["synthetic", "kitti"], shared, args.synthetic_frames, pred.size)
            for n in notes:
                print(n, file=sys.stderr)
        res, _ = evaluate_depth({"net": NetworkDepth(pred)}, datasets)
        rows[name] = {d: {"median_scaled": r["net"]["median_scaled"], "metric": r["net"]["metric"]}
                      for d, r in res.items()}
        rows[name]["seconds"] = round(secs, 1)
        print(f"{name}: done in {secs:.0f} s", file=sys.stderr)
    head = "| masks | " + " | ".join(f"{d} AbsRel (med.) | {d} d1 (med.) | {d} AbsRel (metric)" for d in datasets) + " |"
    lines = [head, "|" + "---|" * (1 + 3 * len(datasets))]
    for name, r in rows.items():
        cells = []
        for d in datasets:
            cells += [f"{r[d]['median_scaled']['abs_rel']:.4f}", f"{r[d]['median_scaled']['a1']:.3f}",
                      f"{r[d]['metric']['abs_rel']:.4f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    (out / "ablation.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
