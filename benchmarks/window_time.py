"""The sliding window's time per keyframe over a long synthetic run (issue 31: "marginalisation
keeps the time per keyframe flat over 1,000 keyframes").

Usage: .venv/bin/python benchmarks/window_time.py [--keyframes 1000] [--size 7] [--tracks 150]
           [--iterations 5] [--points 1600] [--seed 0]

The stream: a forward drive, 1 m between keyframes, with a gentle yaw (a sine of 6 deg amplitude
over 200 keyframes); a pinhole camera with KITTI-like intrinsics at 832x256 (fx = fy = 480,
cx = 416, cy = 128).  About ``--points`` points are in view at every keyframe: a point leaves
when it falls out of the image or closer than 1 m, or is lost at random (10 % per keyframe, as
the front end's gates lose tracks), and new ones are sown at random pixels, 4-50 m deep.  Every
keyframe gets the pixels of all its visible points (0.5 px noise) through ``tracks.observe``
(which keeps every 8th id), the true relative pose with its length 5 % long as the guess, and a
ground step length with log-std 0.05 (``StepMeasurement("ground", ...)``).

Printed: per block of 100 keyframes, over its solves with a full window (keyframes 1 to
``size - 1`` are left out of the first block), the min / median / p90 / max of the record's
``time_s`` (the whole solve: build and Levenberg-Marquardt) and the median / p90 / max of its
``build_s``, in ms; the min and median process CPU time of ``add`` (less sensitive than wall time
to other jobs on a shared machine); the median LM iterations, tracks and observations per solve;
failed solves; the process's peak RSS (``resource.getrusage``) and current RSS at the block's
end.  Then the ratios of the last block's times to the first's, and the ATE of the keyframes'
final window poses against the truth.
"""
from __future__ import annotations

import argparse
import math
import resource
import time

import numpy as np

from vo_app.eval.ate import ate, path_length
from vo_app.pipeline.window.window import SlidingWindow, StepMeasurement, WindowParams

W, H = 832, 256
K = np.array([[480.0, 0.0, 416.0], [0.0, 480.0, 128.0], [0.0, 0.0, 1.0]])
PIXEL_NOISE = 0.5  # px
GUESS_LONG = 1.05  # the guess's step length / the true one
GROUND_LOG_SIGMA = 0.05
LOSS = 0.10  # share of the tracks lost per keyframe


def truth(n: int) -> np.ndarray:
    """``[n,4,4]`` camera-to-world poses: 1 m steps along the heading, yaw 6 deg * sin(2 pi k / 200)."""
    yaw = np.radians(6.0) * np.sin(2 * np.pi * np.arange(n) / 200.0)
    T = np.tile(np.eye(4), (n, 1, 1))
    for k in range(n):
        c, s = math.cos(yaw[k]), math.sin(yaw[k])
        T[k, :3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]  # about the camera's y axis (down)
        if k:
            T[k, :3, 3] = T[k - 1, :3, 3] + T[k, :3, 2]  # one metre along the optical axis
    return T


def project(T_wc: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``[N,2]`` of world points ``P [N,3]`` in camera ``T_wc``, and their depths ``[N]``."""
    Xc = (P - T_wc[:3, 3]) @ T_wc[:3, :3]
    z = Xc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = Xc[:, :2] / z[:, None] * K[[0, 1], [0, 1]] + K[:2, 2]
    return uv, z


def rss_mb() -> tuple[float, float]:
    """(peak, current) resident memory of this process in MB (current from /proc; nan elsewhere)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    try:
        with open("/proc/self/statm") as f:
            cur = int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        cur = float("nan")
    return peak, cur


def run(args) -> None:
    rng = np.random.default_rng(args.seed)
    T_true = truth(args.keyframes + 1)
    win = SlidingWindow(K, WindowParams(size=args.size, max_tracks=args.tracks, iterations=args.iterations),
                        image_size=(W, H))
    P, ids = np.zeros((0, 3)), np.zeros(0, np.int64)  # the points alive and their track ids

    def observe(k: int) -> None:
        nonlocal P, ids
        uv, z = project(T_true[k], P)
        keep = (z > 1.0) & (uv[:, 0] >= 0) & (uv[:, 0] <= W - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= H - 1)
        keep &= rng.random(len(P)) >= LOSS
        P, ids = P[keep], ids[keep]
        n = max(args.points - len(P), 0)  # sow new points at random pixels and depths
        px_new = rng.uniform([0, 0], [W - 1, H - 1], (n, 2))
        ray = np.c_[(px_new - K[:2, 2]) / K[[0, 1], [0, 1]], np.ones(n)]
        P = np.r_[P, (ray * rng.uniform(4.0, 50.0, (n, 1))) @ T_true[k][:3, :3].T + T_true[k][:3, 3]]
        ids = np.r_[ids, win.tracks.new_ids(n)]
        uv, _ = project(T_true[k], P)
        win.tracks.observe(k, ids, uv + rng.normal(0.0, PIXEL_NOISE, uv.shape))

    win.start(0, T_true[0])
    observe(0)
    rows, recs = [], []
    print(f"window size {args.size}, max tracks {args.tracks}, iterations {args.iterations}, "
          f"{args.points} points in view, {args.keyframes} keyframes, seed {args.seed}\n")
    print("| keyframes | time_s min / median / p90 / max (ms) | build_s median / p90 / max (ms) "
          "| CPU min / median (ms) | iterations "
          "| tracks | observations | failed | peak RSS (MB) | RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    t_start = time.perf_counter()
    for k in range(1, args.keyframes + 1):
        T_rel = np.linalg.inv(T_true[k]) @ T_true[k - 1]  # X_k = R X_{k-1} + t
        true_len = float(np.linalg.norm(T_rel[:3, 3]))
        T_rel[:3, 3] *= GUESS_LONG
        observe(k)
        ground = true_len * math.exp(GROUND_LOG_SIGMA * rng.normal())
        c0 = time.process_time()
        recs.append(win.add(k, T_rel, steps=[StepMeasurement("ground", ground, GROUND_LOG_SIGMA)]))
        recs[-1]["cpu_s"] = time.process_time() - c0
        if k % 100 == 0 or k == args.keyframes:
            first = recs[(k - 1) // 100 * 100]["frame"]
            block = [r for r in recs[first - 1:] if r["keyframes"] == args.size]  # the window full
            t = np.array([r["time_s"] for r in block]) * 1e3
            b = np.array([r["build_s"] for r in block]) * 1e3
            c = np.array([r["cpu_s"] for r in block]) * 1e3
            peak, cur = rss_mb()
            rows.append((np.median(t), t.min(), np.median(c), c.min()))
            print(f"| {first}-{k} | {t.min():.1f} / {np.median(t):.1f} / {np.percentile(t, 90):.1f} / {t.max():.1f} "
                  f"| {np.median(b):.1f} / {np.percentile(b, 90):.1f} / {b.max():.1f} "
                  f"| {c.min():.1f} / {np.median(c):.1f} "
                  f"| {np.median([r['iterations'] for r in block]):.0f} "
                  f"| {np.median([r['tracks'] for r in block]):.0f} "
                  f"| {np.median([r['observations'] for r in block]):.0f} "
                  f"| {sum(r['status'] != 'ok' for r in block)} | {peak:.0f} | {cur:.0f} |", flush=True)
    wall = time.perf_counter() - t_start
    r = np.array(rows[-1]) / np.array(rows[0])
    print(f"\nlast block / first block: time_s median {r[0]:.2f}, min {r[1]:.2f}; "
          f"CPU median {r[2]:.2f}, min {r[3]:.2f}"
          f"\nall {args.keyframes} keyframes: median {np.median([r['time_s'] for r in recs]) * 1e3:.1f} ms, "
          f"max {max(r['time_s'] for r in recs) * 1e3:.1f} ms; loop wall time {wall:.0f} s")
    est = np.stack([win.pose(k) for k in range(args.keyframes + 1)])
    guess = np.stack([T_true[0]] + [np.eye(4)] * args.keyframes)
    for k in range(1, args.keyframes + 1):  # the chain of guesses, for comparison
        T_rel = np.linalg.inv(T_true[k]) @ T_true[k - 1]
        T_rel[:3, 3] *= GUESS_LONG
        guess[k] = guess[k - 1] @ np.linalg.inv(T_rel)
    L = path_length(T_true)
    for name, poses in (("window", est), ("guess (5 % long)", guess)):
        a_se3, a_sim3 = ate(T_true, poses, "se3"), ate(T_true, poses, "sim3")
        print(f"ATE of the {name}: {a_se3['rmse']:.3f} m SE(3)-aligned ({100 * a_se3['rmse'] / L:.3f} % of "
              f"{L:.0f} m), {a_sim3['rmse']:.3f} m Sim(3)-aligned (scale {a_sim3['scale']:.4f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keyframes", type=int, default=1000)
    ap.add_argument("--size", type=int, default=7, help="keyframes in the window")
    ap.add_argument("--tracks", type=int, default=150, help="max tracks per solve")
    ap.add_argument("--iterations", type=int, default=5, help="Levenberg-Marquardt iterations per solve")
    ap.add_argument("--points", type=int, default=1600, help="points in view per keyframe (every 8th is tracked)")
    ap.add_argument("--seed", type=int, default=0)
    run(ap.parse_args())


if __name__ == "__main__":
    main()
