"""End-to-end speed of ``vo-run`` against the plain OpenCV chain, on the same KITTI frames.

Usage: .venv/bin/python benchmarks/e2e_speed.py [--rounds 5] [--batch 16] [--window 0] [--clips kitti06_0000-0050 ...]

Both run in this process (interpreter start-up and imports excluded for both): ``vo-run SEQ
--config kitti --quiet`` is ``open_sequence`` + ``run_odometry`` with the ``kitti`` preset, as
the command runs them (reading, resizing, flow, geometry, scale, chaining, the output files);
``--batch N`` and ``--window N`` add a row each with that option (``--window`` default 0: the front
end's chain alone, beside the preset's own row, which has the back end's window).  The OpenCV chain is the baseline of
``../shared/data/README.md``: each frame read with ``cv2.imread`` (gray) and resized to 832x256
(``INTER_AREA``), DIS ``medium`` forward and backward, the forward-backward score
``1 / (0.1 + |f + b(x + f)|)`` (0 where the target leaves the image), its top 20 % then 6,000
at random, ``cv2.findEssentialMat(RANSAC, 0.999, 0.5 px)`` + ``cv2.recoverPose``, relative poses
chained with unit translation norms, the trajectory written at the end.

Each round runs every method on every clip back to back, the order reversed every other round;
frames/s is frames / wall time of one run; the ratio to the OpenCV chain is taken within a round
(same machine state), then the median, min and max over rounds are printed.  One untimed warm-up
run of each comes first.  Accuracy (median per-pair rotation and translation-direction error,
Sim(3)-aligned ATE: ``vo_app.cli.summary.trajectory_accuracy``, what vo-run reports) is that of
the last round (the runs are deterministic).  The 1-minute load average is printed before and
after: other processes on the machine change the numbers.

``vo-run`` raises glibc's mmap and trim thresholds (``vo_app/pipeline/alloc.py``): process-wide,
so it is set here before anything runs and the OpenCV chain runs under the same allocator
settings (it gains about 5 % from them); ``--malloc default`` leaves the allocator alone for both.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kitti_accuracy import BASELINE, CLIPS, DATA, accuracy  # noqa: E402

from vo_app.geometry import inverse, make_pose  # noqa: E402
from vo_app.io import open_sequence, write_kitti  # noqa: E402
from vo_app.pipeline.config import load_config  # noqa: E402
from vo_app.pipeline.odometry import run_odometry  # noqa: E402

SIZE = (832, 256)


def run_vo(seq_dir: Path, out: Path, batch: int = 1, seed: int = 0, **overrides) -> tuple[int, float, np.ndarray]:
    """``vo-run SEQ --config kitti [--batch N] --quiet``: frames, seconds, trajectory ``[N,4,4]``."""
    from vo_app.io import read_kitti

    t0 = time.perf_counter()
    cfg = load_config("kitti", batch=batch, seed=seed, **overrides)
    seq = open_sequence(seq_dir, size=cfg.size, color=cfg.color)
    run_odometry(seq, cfg, out)
    wall = time.perf_counter() - t0
    return len(seq), wall, read_kitti(out / "trajectory_kitti.txt")


def run_opencv(seq_dir: Path, out: Path, seed: int = 0, n_matches: int = 6000, top: float = 0.2,
               size: tuple[int, int] = SIZE, stride: int = 1):
    """The plain OpenCV chain (module docstring) at ``size`` on every ``stride``-th frame:
    frames, seconds, trajectory ``[N,4,4]``."""
    t0 = time.perf_counter()
    seq = open_sequence(seq_dir, size=size, stride=stride)  # file list and intrinsics only; images read below
    K = seq.intrinsics.K
    W, H = size
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gx = np.arange(W, dtype=np.float32)[None, :]
    gy = np.arange(H, dtype=np.float32)[:, None]
    k_top = int(top * W * H)
    rng = np.random.default_rng(seed)
    poses = [np.eye(4)]
    prev = None
    for path in seq.image_paths:
        img = cv2.resize(cv2.imread(path, cv2.IMREAD_GRAYSCALE), size, interpolation=cv2.INTER_AREA)
        if prev is None:
            prev = img
            continue
        f = dis.calc(prev, img, None)
        b = dis.calc(img, prev, None)
        mx, my = gx + f[..., 0], gy + f[..., 1]
        back = cv2.remap(b, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        d = np.linalg.norm(f + back, axis=-1)
        inside = (mx >= 0) & (mx <= W - 1) & (my >= 0) & (my <= H - 1)
        score = np.where(inside, 1.0 / (0.1 + d), 0.0).ravel()
        cand = np.argpartition(-score, k_top)[:k_top]
        cand = cand[score[cand] > 0]
        pick = rng.choice(cand, min(n_matches, len(cand)), replace=False)
        ys, xs = np.divmod(pick, W)
        p1 = np.stack([xs, ys], -1).astype(np.float64)
        p2 = p1 + f[ys, xs].astype(np.float64)
        E, mask = cv2.findEssentialMat(p1, p2, K, cv2.RANSAC, 0.999, 0.5)
        if E is None or E.shape != (3, 3):
            T = np.eye(4)
        else:
            _, R, t, _ = cv2.recoverPose(E, p1, p2, K, mask=mask)
            T = make_pose(R, t.ravel() / max(np.linalg.norm(t), 1e-12))  # constant (unit) translation norm
        poses.append(poses[-1] @ inverse(T))
        prev = img
    P = np.stack(poses)
    write_kitti(out / "trajectory_kitti.txt", P)
    return len(seq), time.perf_counter() - t0, P


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, nargs="*", default=[16], help="extra vo-run rows with --batch N")
    ap.add_argument("--window", type=int, nargs="*", default=[0],
                    help="extra vo-run rows with the back end's --window N (none: --window with no value)")
    ap.add_argument("--clips", nargs="+", default=list(CLIPS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--breakdown", action="store_true", help="also print where the time goes (one --no-pipeline run)")
    ap.add_argument("--malloc", choices=["tuned", "default"], default="tuned",
                    help="allocator settings for both sides (see the module docstring)")
    args = ap.parse_args()
    if args.malloc == "default":
        os.environ["VO_APP_MALLOC"] = "default"
    from vo_app.pipeline.alloc import keep_freed_memory

    tuned = keep_freed_memory()
    clips = [c for c in args.clips if (DATA / c).is_dir()]
    if not clips:
        sys.exit(f"none of {args.clips} found under {DATA}")
    methods = {"vo-run": lambda s, o: run_vo(s, o, 1, args.seed)}
    for n in args.batch:
        methods[f"vo-run --batch {n}"] = lambda s, o, n=n: run_vo(s, o, n, args.seed)
    for n in args.window:
        methods[f"vo-run --window {n}"] = lambda s, o, n=n: run_vo(s, o, 1, args.seed, window=n)
    methods["OpenCV chain"] = lambda s, o: run_opencv(s, o, args.seed)
    jobs = [(c, m) for c in clips for m in methods]
    fps: dict = {j: [] for j in jobs}
    traj: dict = {}
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for c, m in jobs:  # warm-up: imports, first allocations, DIS and kernel start-up
            methods[m](DATA / c, Path(tmp))
        for r in range(args.rounds):
            for c, m in (jobs if r % 2 == 0 else jobs[::-1]):
                out = Path(tmp) / f"{c}_{len(fps[(c, m)])}_{m.replace(' ', '_')}"
                out.mkdir()
                n, wall, P = methods[m](DATA / c, out)
                fps[(c, m)].append(n / wall)
                traj[(c, m)] = P
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{c[:7]} {m} {fps[(c, m)][-1]:.2f}" for c, m in jobs),
                  file=sys.stderr)
    load1 = os.getloadavg()
    print(f"vo-run SEQ --config kitti --quiet (832x256, in-process) vs the plain OpenCV chain; {args.rounds} rounds; "
          f"{os.cpu_count()} CPU threads; allocator {'tuned' if tuned else 'default'} for both; "
          f"load average (1 min) {load0[0]:.2f} before, {load1[0]:.2f} after\n")
    print("| sequence | method | frames/s median (min-max) | speed vs OpenCV chain, median (min-max) "
          "| rot. err (deg) | t-dir err (deg) | ATE Sim(3) (m) |")
    print("|---|---|---|---|---|---|---|")
    for c in clips:
        gt = np.asarray(open_sequence(DATA / c, size=SIZE).gt_poses)
        base = np.asarray(fps[(c, "OpenCV chain")])
        for m in methods:
            f = np.asarray(fps[(c, m)])
            ratio = f / base
            acc = accuracy(gt, traj[(c, m)])
            rtext = "1.00" if m == "OpenCV chain" else \
                f"**{np.median(ratio):.2f}x** ({ratio.min():.2f}-{ratio.max():.2f})"
            print(f"| {c} | {m} | {np.median(f):.2f} ({f.min():.2f}-{f.max():.2f}) | {rtext} | "
                  f"{acc['median_rot_err_deg']:.4f} | {acc['median_tdir_err_deg']:.3f} | {acc['ate_rmse_m']:.4f} |")
    print("\nREADME results table (vo-run, seed 0) and ../shared/data/README.md baseline (rot., t-dir, "
          "const-norm ATE): " + "; ".join(f"{c}: {BASELINE[c]}" for c in clips))
    if args.breakdown:
        breakdown(clips, args.seed)


def breakdown(clips, seed: int) -> None:
    """Where a frame's time goes: ``vo-run --no-pipeline`` (everything in one thread, in order), the
    mean per-pair timings of report.json (ms), and the frames/s of that run."""
    import json

    keys = ["masks", "sample", "rotation", "ransac", "pose", "resample", "triangulate", "scale"]
    print("\nvo-run --no-pipeline, mean ms per pair (report.json; flow = DIS forward + backward, scale = "
          "the scale chain incl. Lucas-Kanade):\n")
    print("| sequence | frames/s | flow | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    with tempfile.TemporaryDirectory() as tmp:
        for c in clips:
            n, wall, _ = run_vo(DATA / c, Path(tmp), 1, seed, pipeline=False)
            pairs = json.loads((Path(tmp) / "report.json").read_text())["pairs"]
            ms = lambda k: 1e3 * np.mean([p["timings_s"].get(k, 0.0) for p in pairs])  # noqa: E731
            flow = 1e3 * np.mean([p["t_flow_s"] for p in pairs])
            print(f"| {c} | {n / wall:.2f} | {flow:.1f} | " + " | ".join(f"{ms(k):.1f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
