"""How much the live open3d viewer slows ``vo-run`` down.

Usage: .venv/bin/python benchmarks/viewer_overhead.py [--seq DIR] [--config kitti] [--repeats 2]

Runs ``vo-run`` on the sequence without and with ``--viewer --viewer-close``,
alternating (repeats of each), under a private Xvfb display when there is no
DISPLAY, and prints a Markdown table: the VO loop time (``totals.wall_time_s``
of report.json, what the viewer must not slow by more than 20 %), frames/s and
the whole command's wall time (which also holds the viewer's start and close).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEQ = REPO.parent / "shared" / "data" / "kitti06_0000-0050"


def run_once(seq: Path, config: str, viewer: bool, tmp: Path) -> tuple[float, float, float]:
    out = tmp / ("viewer" if viewer else "plain")
    cmd = [sys.executable, "-m", "vo_app.cli.run", str(seq), "--out", str(out), "--config", config, "--quiet"]
    if viewer:
        cmd += ["--viewer", "--viewer-close"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"viewer_overhead: vo-run failed:\n{proc.stderr}")
    if viewer and "viewer disabled" in proc.stderr:
        sys.exit(f"viewer_overhead: {proc.stderr.strip()}")
    tot = json.loads((out / "report.json").read_text())["totals"]
    return float(tot["wall_time_s"]), float(tot["frames_per_s"]), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", type=Path, default=DEFAULT_SEQ)
    ap.add_argument("--config", default="kitti")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if not args.seq.is_dir():
        sys.exit(f"viewer_overhead: {args.seq}: not found; pass --seq")
    display = contextlib.nullcontext()
    if not os.environ.get("DISPLAY"):
        from vo_app.viewer.xvfb import virtual_display

        display = virtual_display(1280, 800)
    rows = {False: [], True: []}
    with display, tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for viewer in (False, True):
                rows[viewer].append(run_once(args.seq, args.config, viewer, Path(tmp)))
    med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in rows.items()}
    base = med[False][0]
    print(f"sequence: {args.seq.name}, config {args.config}, {args.repeats} run(s) each, medians; "
          f"display: {'Xvfb (software GL)' if not os.environ.get('DISPLAY') else os.environ['DISPLAY']}")
    print("| mode | VO loop time (s) | frames/s | command wall time (s) | VO slowdown |")
    print("|---|---|---|---|---|")
    for viewer in (False, True):
        loop, fps, wall = med[viewer]
        slow = "-" if not viewer else f"{100.0 * (loop / base - 1.0):+.1f} %"
        print(f"| {'--viewer' if viewer else 'no viewer'} | {loop:.2f} | {fps:.2f} | {wall:.2f} | {slow} |")


if __name__ == "__main__":
    main()
