"""How wrong the triangulation chain's pair-to-pair ratios are, by the parallax their points needed.

Usage: .venv/bin/python benchmarks/chain_ratio_errors.py RUN_DIR SEQ_DIR [RUN_DIR SEQ_DIR ...]

``RUN_DIR`` is the ``--out`` folder of a ``vo-run ... --scale fused`` run (its ``report.json``
records each pair's chain ratio and the parallax threshold it was measured at, ``scale_sources.chain``); ``SEQ_DIR`` is the
sequence with its ground truth (``poses.txt``).  For every pair whose predecessor was also a fused
pair, the error is ``log(chain ratio / true ratio)`` with the true ratio the ground truth's norm
of this pair over that of the previous pair (each pair's norm spans its reference to its frame).
Printed per threshold (``scale_parallax_deg``): the number of ratios, the robust std of the error
(1.4826 x median |error|), its mean, and the ``chain_ratio_sigma`` that
:func:`vo_app.pipeline.scale_chain.chain_sigma` gives such a ratio.  This is the measurement
behind that function (README.md, "Scale sources").
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from vo_app.io import read_kitti
from vo_app.pipeline.config import VOConfig
from vo_app.pipeline.scale_chain import chain_sigma

def ratio_errors(report: dict, centres: np.ndarray) -> dict[float, list[float]]:
    """``{parallax threshold: [log-ratio errors]}`` of the fused pairs of ``report``."""
    out: dict[float, list[float]] = defaultdict(list)
    pairs = report["pairs"]
    for prev, cur in zip(pairs[:-1], pairs[1:]):
        if "scale_sources" not in prev or "scale_sources" not in cur:
            continue
        chain = cur["scale_sources"].get("chain", {})
        if chain.get("ratio") is None or chain.get("parallax_deg") is None:
            continue
        n_prev = np.linalg.norm(centres[prev["frame"]] - centres[prev["ref"]])
        n_cur = np.linalg.norm(centres[cur["frame"]] - centres[cur["ref"]])
        if n_prev < 1e-4 or n_cur < 1e-4:  # a stop: no true ratio
            continue
        out[float(chain["parallax_deg"])].append(float(np.log(chain["ratio"] / (n_cur / n_prev))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", help="RUN_DIR SEQ_DIR pairs")
    args = ap.parse_args()
    if len(args.dirs) % 2:
        ap.error("give RUN_DIR SEQ_DIR pairs")
    cfg = VOConfig()
    full = max(cfg.scale_parallax_deg)
    print("| run | parallax >= (deg) | ratios | robust std of log error | mean | chain_sigma |")
    print("|---|---|---|---|---|---|")
    for run_dir, seq_dir in zip(args.dirs[::2], args.dirs[1::2]):
        report = json.loads((Path(run_dir) / "report.json").read_text())
        sigma = report.get("config", {}).get("chain_ratio_sigma", cfg.chain_ratio_sigma)
        centres = read_kitti(Path(seq_dir) / "poses.txt")[:, :3, 3]
        for thr, err in sorted(ratio_errors(report, centres).items(), reverse=True):
            e = np.asarray(err)
            print(f"| {Path(run_dir).name} | {thr:g} | {len(e)} | {1.4826 * np.median(np.abs(e)):.4f} | "
                  f"{e.mean():+.4f} | {chain_sigma(sigma, thr, full):.4f} |")


if __name__ == "__main__":
    main()
