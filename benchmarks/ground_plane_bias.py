"""The ground plane's norm against the true step, per sequence, and the time of one plane fit.

Usage: .venv/bin/python benchmarks/ground_plane_bias.py [--frames 120] [--clips kitti00_0000-0090 ...]

Runs ``vo-run SEQ --scale fused --camera-height H`` (in this process,
``open_sequence`` + ``run_odometry``) and reads each posed pair's ground-plane measurement
(``scale_sources.ground.value`` in ``report.json``) against the ground truth's step over the same
pair (pairs whose true step is under 5 cm are left out).  Sequences:

- a rendered forward drive (``vo-synth DIR --frames N --motion forward --seed 3 --layout kitti``,
  cached in ``runs/scale_bench/``), ``--config demo``, camera height 1.6 m, once with the
  renderer's exact flow (``ExactFlow``: only the plane fit can err) and once with the preset's DIS;
- the KITTI clips of ``../shared/data`` with ``--config kitti`` (camera height 1.65 m).

Printed per sequence: the median ratio, the median |log ratio| of a single pair, how many pairs
had no plane, and the mean wall time of ``fit_ground_plane`` per call (timed around the calls the
run makes; one thread; run it alone on the machine).

Two more tables (``--stopgo-frames 0`` skips the first): the first ``--stopgo-frames`` frames of
the stop-and-go render of ``benchmarks/scale_modes.py`` (``vo-synth DIR --frames 1500 --motion
stopgo --seed 3 --layout kitti``, cached), exact flow and DIS, by the length of the true step:
pairs, planes found, the median ratio and the share of planes off by more than 25 % (|log| >
0.25); and, over every run above, the single-pair error by the tilt of the fitted plane's normal
from the camera's down axis.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import DATA  # noqa: E402

import vo_app.pipeline.odometry as odometry  # noqa: E402
from vo_app.io import open_sequence  # noqa: E402
from vo_app.pipeline.config import load_config  # noqa: E402
from vo_app.synth import write_sequence  # noqa: E402
from vo_app.synth.flow import ExactFlow  # noqa: E402

CACHE = Path(__file__).resolve().parents[1] / "runs" / "scale_bench"


class _TimedFit:
    """``fit_ground_plane`` with the seconds of its calls added up."""

    def __init__(self, fit):
        self.fit, self.seconds, self.calls = fit, 0.0, 0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self.fit(*args, **kwargs)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def measure(root: Path, preset: str, height: float, exact: bool, max_frames: int | None = None,
            min_step: float = 0.05) -> tuple[np.ndarray, int, float, np.ndarray]:
    """``(ratios of the pairs with a plane, pairs without one, ms per fit, [pairs, 3] rows of (true step,
    ratio or NaN, tilt in deg or NaN))``; pairs whose true step is under ``min_step`` are left out."""
    cfg = load_config(preset, scale="fused", camera_height=height, pipeline=False)
    seq = open_sequence(root, size=cfg.size, max_frames=max_frames)
    timed = _TimedFit(scale_sources.fit_ground_plane)
    scale_sources.fit_ground_plane = timed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            report = odometry.run_odometry(seq, cfg, Path(tmp), flow_net=ExactFlow(seq) if exact else None)
    finally:
        scale_sources.fit_ground_plane = timed.fit
    gt = np.asarray(seq.gt_poses)
    ratios, missing, rows = [], 0, []
    for p in report["pairs"]:
        ground = p.get("scale_sources", {}).get("ground")
        step = float(np.linalg.norm(gt[p["frame"], :3, 3] - gt[p["ref"], :3, 3]))
        if ground is None or step < min_step:
            continue
        value = ground.get("value")
        if value is None or not np.isfinite(value):
            missing += 1
            rows.append((step, np.nan, np.nan))
        else:
            ratios.append(value / step)
            tilt = np.degrees(np.arccos(min(1.0, float(ground["normal"][1]))))
            rows.append((step, value / step, tilt))
    return (np.asarray(ratios), missing, 1000.0 * timed.seconds / max(timed.calls, 1),
            np.asarray(rows, np.float64).reshape(-1, 3))


def _classes(rows: np.ndarray, column: int, edges: list[float], unit: str, what: str) -> None:
    """One table row per class ``[lo, hi)`` of ``rows[:, column]``: pairs, planes, median ratio, share off > 25 %."""
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (rows[:, column] >= lo) & (rows[:, column] < hi)
        r = rows[m, 1]
        r = r[np.isfinite(r)]
        hi_text = f"{hi:g}" if np.isfinite(hi) else ""
        med = f"{np.median(r):.3f}" if len(r) else "-"
        off = f"{np.mean(np.abs(np.log(r)) > 0.25):.2f}" if len(r) else "-"
        print(f"| {what} | {lo:g}-{hi_text} {unit} | {int(m.sum())} | {len(r)} | {med} | {off} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--clips", nargs="*", default=["kitti00_0000-0090", "kitti06_0000-0050", "kitti01_0000-0050"])
    ap.add_argument("--stopgo-frames", type=int, default=600, help="frames of the stop-and-go render (0: skip)")
    args = ap.parse_args()
    render = CACHE / f"forward_{args.frames}_s3"
    if not (render / "synth.json").is_file():
        print(f"rendering {render} ...", file=sys.stderr)
        write_sequence(render, layout="kitti", n_frames=args.frames, motion="forward", seed=3, write_flow=False)
    runs = [(f"rendered forward {args.frames}, exact flow", render, "demo", 1.6, True),
            (f"rendered forward {args.frames}, DIS (demo preset)", render, "demo", 1.6, False)]
    runs += [(clip, DATA / clip, "kitti", 1.65, False) for clip in args.clips if (DATA / clip).is_dir()]
    print("| sequence | ground / true step, median | median abs log error of a pair | pairs without a plane | ms per fit |")
    print("|---|---|---|---|---|")
    every = []
    for name, root, preset, height, exact in runs:
        r, missing, ms, rows = measure(root, preset, height, exact)
        every.append(rows)
        print(f"| {name} | {np.median(r):.3f} | {np.median(np.abs(np.log(r))):.3f} | {missing} of {len(r) + missing} | "
              f"{ms:.2f} |", flush=True)
    if args.stopgo_frames > 0:
        stopgo = CACHE / "stopgo_1500_s3"
        if not (stopgo / "synth.json").is_file():
            print(f"rendering {stopgo} ...", file=sys.stderr)
            write_sequence(stopgo, layout="kitti", n_frames=1500, motion="stopgo", seed=3, write_flow=False)
        print(f"\n| stop-and-go, first {args.stopgo_frames} frames | true step | pairs | planes | median ratio | "
              "share off > 25 % |\n|---|---|---|---|---|---|")
        for label, exact in (("exact flow", True), ("DIS (demo preset)", False)):
            _, _, _, rows = measure(stopgo, "demo", 1.6, exact, args.stopgo_frames, min_step=0.01)
            every.append(rows[rows[:, 0] >= 0.05])
            _classes(rows, 0, [0.01, 0.05, 0.1, 0.2, 0.4, np.inf], "m", label)
    print("\n| every run above, true step >= 5 cm | plane tilt | pairs | planes | median ratio | share off > 25 % |\n"
          "|---|---|---|---|---|---|")
    rows = np.concatenate(every)
    _classes(rows[np.isfinite(rows[:, 1])], 2, [0.0, 2.0, 4.0, 6.0, 10.0, 90.0], "deg", "all")


if __name__ == "__main__":
    main()
