"""What one damaged frame costs: the clip run intact, then once per damaged frame.

Usage: .venv/bin/python benchmarks/damaged_frames.py [--clip kitti06_0000-0050] [--frames 5 10 ... 45]
       [--keep 0.333 | --keep-bytes 3000] [--config kitti] [--scale fused] [--seed 0]

``--clip`` is a folder of ``../shared/data`` or a path to any KITTI-layout sequence with ``poses.txt``.
For each frame of ``--frames`` a copy of the clip is made in a temporary folder (symbolic links to
the intact files) in which that one image is truncated to ``--keep`` of its bytes (or to
``--keep-bytes``); ``vo-run COPY --config ... --quiet`` runs on it, and the table gives the
Sim(3)-aligned ATE next to the intact run's, with the reason ``report.json`` gives for the frame.
docs/robustness.md quotes it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import DATA  # noqa: E402

from vo_app.io.images import list_images  # noqa: E402


def damaged_copy(clip: Path, dest: Path, frame: int | None, keep: float | None, keep_bytes: int | None) -> Path | None:
    """``dest``: ``clip`` as symbolic links, image ``frame`` of its image folder truncated; returns that image's path."""
    dest.mkdir(parents=True)
    bad = None
    for entry in sorted(clip.iterdir()):
        if not entry.is_dir():
            os.symlink(entry.resolve(), dest / entry.name)
            continue
        (dest / entry.name).mkdir()
        images = list_images(entry)
        for i, src in enumerate(images):
            target = dest / entry.name / src.name
            if frame is not None and i == frame and entry.name.startswith("image"):
                data = src.read_bytes()
                n = keep_bytes if keep_bytes is not None else int(len(data) * keep)
                target.write_bytes(data[:n])
                bad = target
            else:
                os.symlink(src.resolve(), target)
    return bad


def run(seq: Path, out: Path, layers: list[str], seed: int) -> dict:
    cmd = [sys.executable, "-m", "vo_app.cli.run", str(seq), "--out", str(out), *layers, "--seed", str(seed), "--quiet"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"vo-run failed ({proc.returncode}): {proc.stderr.strip()}")
    report = json.loads((out / "report.json").read_text())
    report["_stderr"] = proc.stderr
    return report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default="kitti06_0000-0050")
    ap.add_argument("--frames", type=int, nargs="+", default=list(range(5, 50, 5)))
    ap.add_argument("--keep", type=float, default=1 / 3, help="share of the damaged file's bytes kept")
    ap.add_argument("--keep-bytes", type=int, help="bytes of the damaged file kept (instead of --keep)")
    ap.add_argument("--config", action="append", default=None, help="vo-run --config layers [default: kitti]")
    ap.add_argument("--scale", help="vo-run --scale [default: the preset's]")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    clip = Path(args.clip) if Path(args.clip).is_dir() else DATA / args.clip
    if not clip.is_dir():
        raise SystemExit(f"{clip}: not found")
    layers = [x for c in (args.config or ["kitti"]) for x in ("--config", c)]
    if args.scale:
        layers += ["--scale", args.scale]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        intact = run(clip, tmp / "out_intact", layers, args.seed)
        base = intact["accuracy"]["ate_rmse_m"]
        rows = []
        for f in args.frames:
            seq = tmp / f"clip_{f}"
            bad = damaged_copy(clip, seq, f, args.keep, args.keep_bytes)
            rep = run(seq, tmp / f"out_{f}", layers, args.seed)
            skipped = {s["frame"]: s for s in rep["skipped_frames"]}
            named = bad is not None and bad.name in rep["_stderr"]
            reason = skipped[f]["reason"].split(": ", 1)[-1] if f in skipped else "NOT DETECTED"
            ate = rep["accuracy"]["ate_rmse_m"]
            rows.append((f, bad.stat().st_size if bad else 0, reason, named, rep["frames_written"],
                         rep["filled_frames"].get(str(f), "-"), ate, ate / base))
    print(f"vo-run {' '.join(layers)} --seed {args.seed} on {clip.name}; intact: ATE {base:.4f} m, "
          f"{intact['frames_written']} rows\n")
    print("| damaged frame | bytes kept | reason in report.json | named on the console | rows | row filled | "
          "ATE (m) | / intact |")
    print("|---|---|---|---|---|---|---|---|")
    for f, size, reason, named, n, filled, ate, ratio in rows:
        print(f"| {f} | {size} | {reason} | {'yes' if named else 'no'} | {n} | {filled} | {ate:.4f} | {ratio:.2f}x |")
    print(f"\nworst: {max(r[-1] for r in rows):.2f}x the intact run's ATE")


if __name__ == "__main__":
    main()
