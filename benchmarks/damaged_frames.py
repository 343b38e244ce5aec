"""What one damaged frame costs: the clip run intact, then once per damaged frame.

Usage: .venv/bin/python benchmarks/damaged_frames.py [--clip kitti06_0000-0050] [--frames 5 10 ... 45]
       [--keep 0.333 | --keep-bytes 3000] [--jpeg] [--config kitti] [--scale fused] [--seeds 0 1 2 3 4]

``--clip`` is a folder of ``../shared/data`` or a path to any KITTI-layout sequence with ``poses.txt``
(``--jpeg``: its images saved as JPEG, quality 95, first).  For each frame of ``--frames`` a copy of
the clip is made in a temporary folder (symbolic links to the intact files) in which that one image
is truncated to ``--keep`` of its bytes (or to ``--keep-bytes``); ``vo-run COPY --config ...
--quiet`` runs on it, and the table gives the Sim(3)-aligned ATE next to the intact run's, with the
reason ``report.json`` gives for the frame and whether the console named it.  With several
``--seeds`` every run is made with each seed, and the last column compares the median ATE over the
seeds with the intact clip's: the ATE of the 60 m clip moves by more than 20 % with the seed of the
match sampling alone (docs/robustness.md).  Two columns check the scale across the damaged frame
against ``poses.txt`` (seed 0): the error of the norm the chain carries from the pair before the
frame to the second pair after it, for the intact and the damaged run (:func:`crossing_error`), and
the intact run's ATE had that scale been exact (its steps after the frame rescaled; an analysis with
the ground truth, not a method).
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import DATA  # noqa: E402

from vo_app.eval.ate import ate  # noqa: E402
from vo_app.io.images import list_images  # noqa: E402
from vo_app.io.trajectory import read_kitti  # noqa: E402


def jpeg_copy(clip: Path, dest: Path) -> Path:
    """``dest``: ``clip`` with the images of its ``image*`` folders saved as JPEG (quality 95)."""
    import cv2

    dest.mkdir(parents=True)
    for entry in sorted(clip.iterdir()):
        if not (entry.is_dir() and entry.name.startswith("image")):
            os.symlink(entry.resolve(), dest / entry.name)
            continue
        (dest / entry.name).mkdir()
        for src in list_images(entry):
            cv2.imwrite(str(dest / entry.name / f"{src.stem}.jpg"), cv2.imread(str(src), cv2.IMREAD_UNCHANGED),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
    return dest


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


def crossing_error(report: dict, centres: np.ndarray, f: int) -> float | None:
    """Error (%, log) of the scale the chain carries across frame ``f``: the norm of the pair ending at
    ``f + 2`` over that of the pair ending at ``f - 1``, against the same ratio of the ground truth's
    step lengths (``centres [N,3]``: camera centres).  The chain's own ratios (``scale_sources``
    with ``--scale fused``, else consecutive norms), so the same for the intact and the damaged run."""
    pairs = {p["frame"]: p for p in report["pairs"]}
    if f - 1 not in pairs or f + 2 not in pairs:
        return None
    chain = [p.get("scale_sources", {}).get("chain", {}).get("ratio") for p in report["pairs"]
             if f - 1 < p["frame"] <= f + 2]
    if "scale_sources" in pairs[f + 2]:
        if any(r is None for r in chain):
            return None
        est = float(np.prod(chain))
    else:
        est = pairs[f + 2]["scale"] / pairs[f - 1]["scale"]

    def step(p):
        return np.linalg.norm(centres[p["frame"]] - centres[p["ref"]])
    return 100 * float(np.log(est / (step(pairs[f + 2]) / step(pairs[f - 1]))))


def rescaled_after(poses: np.ndarray, f: int, factor: float) -> np.ndarray:
    """``poses [N,4,4]`` (camera-to-world) with every step from frame ``f`` on scaled by ``factor``."""
    out = poses.copy()
    for i in range(f, len(poses)):
        rel = np.linalg.inv(poses[i - 1]) @ poses[i]
        rel[:3, 3] *= factor
        out[i] = out[i - 1] @ rel
    return out


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
    ap.add_argument("--jpeg", action="store_true", help="save the clip's images as JPEG (quality 95) first")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0],
                    help="seeds of the match sampling and RANSAC; with several, every run is made with each and "
                         "the last columns compare the medians over the seeds")
    args = ap.parse_args()
    clip = Path(args.clip) if Path(args.clip).is_dir() else DATA / args.clip
    if not clip.is_dir():
        raise SystemExit(f"{clip}: not found")
    layers = [x for c in (args.config or ["kitti"]) for x in ("--config", c)]
    if args.scale:
        layers += ["--scale", args.scale]
    seeds = args.seeds
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.jpeg:
            clip = jpeg_copy(clip, tmp / clip.name)
        poses = clip / "poses.txt"
        centres = np.loadtxt(poses).reshape(-1, 3, 4)[:, :, 3] if poses.is_file() else None
        intact = {s: run(clip, tmp / f"out_intact_{s}", layers, s) for s in seeds}
        base = {s: r["accuracy"]["ate_rmse_m"] for s, r in intact.items()}
        rows = []
        for f in args.frames:
            seq = tmp / f"clip_{f}"
            bad = damaged_copy(clip, seq, f, args.keep, args.keep_bytes)
            ates, first = {}, None
            for s in seeds:
                rep = run(seq, tmp / f"out_{f}_{s}", layers, s)
                ates[s] = rep["accuracy"]["ate_rmse_m"]
                first = first or rep
            skipped = {x["frame"]: x for x in first["skipped_frames"]}
            named = bad is not None and bad.name in first["_stderr"]
            reason = skipped[f]["reason"].split(": ", 1)[-1] if f in skipped else "NOT DETECTED"
            cross = [None if centres is None else crossing_error(r, centres, f) for r in (intact[seeds[0]], first)]
            # what the intact run's ATE would be had its chain carried the exact scale across frame f
            exact = None
            if cross[0] is not None:
                est = read_kitti(tmp / f"out_intact_{seeds[0]}" / "trajectory_kitti.txt")
                gt = read_kitti(poses)[: len(est)]
                exact = ate(gt, rescaled_after(est, f + 2, float(np.exp(-cross[0] / 100))))["rmse"]
            rows.append((f, bad.stat().st_size if bad else 0, reason, named, first["frames_written"],
                         first.get("filled_frames", {}).get(str(f), "-"), cross, exact, ates))
    s0 = seeds[0]
    print(f"vo-run {' '.join(layers)} on {clip.name}, damaged copies: "
          + (f"--keep-bytes {args.keep_bytes}" if args.keep_bytes else f"--keep {args.keep:.3f}")
          + f"; intact: ATE {', '.join(f'{base[s]:.4f} m (seed {s})' for s in seeds)}\n")
    multi = len(seeds) > 1
    med_base = float(np.median(list(base.values())))
    head = (f"| damaged frame | bytes kept | reason in report.json | named on the console | rows | row filled | "
            f"scale across the frame vs GT, intact / damaged, seed {s0} (%) | intact with that scale exact / intact | "
            f"ATE seed {s0} (m) | / intact, seed {s0} |")
    if multi:
        head += f" ATE seeds {'/'.join(map(str, seeds[1:]))} (m) | median over the seeds / intact median |"
    print(head)
    print("|---" * (12 if multi else 10) + "|")
    for f, size, reason, named, n, filled, cross, exact, ates in rows:
        cross_s = " / ".join("-" if c is None else f"{c:+.2f}" for c in cross)
        exact_s = "-" if exact is None else f"{exact / base[s0]:.2f}x"
        line = (f"| {f} | {size} | {reason} | {'yes' if named else 'no'} | {n} | {filled} | {cross_s} | {exact_s} | "
                f"{ates[s0]:.4f} | "
                f"{ates[s0] / base[s0]:.2f}x |")
        if multi:
            line += (f" {' / '.join(f'{ates[s]:.4f}' for s in seeds[1:])} | "
                     f"{np.median(list(ates.values())) / med_base:.2f}x |")
        print(line)
    print(f"\nworst, seed {s0}: {max(r[-1][s0] / base[s0] for r in rows):.2f}x the intact run's ATE")
    if multi:
        print(f"intact median over seeds {seeds}: {med_base:.4f} m; worst median ratio: "
              f"{max(np.median(list(r[-1].values())) for r in rows) / med_base:.2f}x")


if __name__ == "__main__":
    main()
