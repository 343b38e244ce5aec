"""Geometry core benchmark: sampling + RANSAC + pose per pair, against OpenCV on the same matches.

Usage:  .venv/bin/python benchmarks/bench_geometry.py [--pairs 48] [--repeat 3]

Matches come from real DIS flow at 832x256 (forward + backward, occlusion and forward-backward
masks), on (a) a synthetic forward-driving sequence rendered by vo_app.synth (exact poses) and
(b) ../shared/data/kitti06_0000-0050 (KITTI ground truth), if present.  Every method gets the
same 6,000 matches per pair.  Prints a Markdown table: time per pair (median over repeats),
median rotation error and translation-direction error against ground truth; then the
speed-up over FM_RANSAC alone measured pairwise (both on the same pairs, back to back).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vo_app import geometry as geo
from vo_app.geometry import batched
from vo_app.geometry._reference.flow_masks import match_score
from vo_app.geometry.epipolar import sampson_distance
from vo_app.io import open_sequence
from vo_app.models.dis import DISFlow

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = (832, 256)


def load_pairs(seq_dir: Path, n_pairs: int):
    """Flow fields, scores, K and GT relative poses of the first ``n_pairs`` consecutive pairs."""
    seq = open_sequence(seq_dir, size=SIZE, max_frames=n_pairs + 1)
    dis = DISFlow("medium")
    frames = [f.image for f in seq]
    gt = np.asarray(seq.gt_poses)
    flows, scores, rel = [], [], []
    for i in range(1, len(frames)):
        f, b = dis(frames[i - 1], frames[i])
        flows.append(f)
        scores.append(match_score(f, b)["score"])
        rel.append(np.linalg.inv(gt[i]) @ gt[i - 1])
    return np.stack(flows), np.stack(scores), seq.intrinsics.K, np.stack(rel)


def match_sets(n_pairs: int):
    """``(name, load_pairs(...))`` of the rendered forward drive, then of KITTI 06 when present."""
    with tempfile.TemporaryDirectory() as tmp:
        from vo_app.synth import write_sequence

        syn = write_sequence(Path(tmp) / "syn", layout="kitti", n_frames=n_pairs + 1, width=SIZE[0], height=SIZE[1],
                             motion="forward", seed=1, write_flow=False)
        yield "synthetic forward driving (vo_app.synth, exact poses)", load_pairs(syn, n_pairs)
    kitti = DATA / "kitti06_0000-0050"
    if kitti.is_dir():
        yield f"KITTI 06 frames 0-{n_pairs} (real DIS matches)", load_pairs(kitti, n_pairs)
    else:
        print(f"\n(KITTI 06 not found at {kitti}: skipped)")


def errors(R: np.ndarray, t: np.ndarray, rel: np.ndarray) -> tuple[float, float]:
    tg = rel[:3, 3] / np.linalg.norm(rel[:3, 3])
    r = np.degrees(geo.rotation_angle(R.T @ rel[:3, :3]))
    d = np.degrees(np.arccos(np.clip(t @ tg / np.linalg.norm(t), -1, 1)))
    return float(r), float(d)


def estimate(fl: torch.Tensor, sc: torch.Tensor, Kb: torch.Tensor, seed: int = 0):
    """Sampling + RANSAC + pose of the pairs ``fl [B,2,H,W]`` on their device: ``(R, t, matches, ransac)``."""
    m = batched.sample_matches(fl, sc, 6000, 0.2, seed=np.arange(fl.shape[0]) + seed)
    r = batched.ransac_fundamental(m.p1, m.p2, threshold=0.1, confidence=0.99, max_iters=1000, seed=seed,
                                   check_planar=False)
    R, t, _, _ = batched.pose_from_fundamental(r.F, Kb, m.p1, m.p2, r.inliers)
    return R, t, m, r


def ours(flows, scores, K, seed=0, refine=False):
    """Sampling + RANSAC + pose (+ optional robust refinement) for all pairs, one batched call each."""
    Kb = torch.from_numpy(np.broadcast_to(K, (len(flows), 3, 3)).copy())
    R, t, m, r = estimate(torch.from_numpy(flows).permute(0, 3, 1, 2), torch.from_numpy(scores), Kb, seed)
    if refine:  # what vo-run does next: robust Gauss-Newton on the matches within 1 px of F
        F = r.F.numpy()
        band = torch.from_numpy(sampson_distance(F, m.p1.numpy(), m.p2.numpy()) < 1.0)
        R, t, _ = batched.refine_pose(m.p1, m.p2, Kb, R, t, band)
    return R.numpy(), t.numpy(), m


def opencv(method: str, p1: np.ndarray, p2: np.ndarray, K: np.ndarray):
    if method == "findEssentialMat(RANSAC, 0.99, 0.1)":
        E, mask = cv2.findEssentialMat(p1, p2, K, cv2.RANSAC, 0.99, 0.1)
    else:
        flag = cv2.FM_RANSAC if "FM_RANSAC" in method else cv2.USAC_MAGSAC
        F, mask = cv2.findFundamentalMat(p1, p2, flag, 0.1, 0.99)
        if F is None or F.shape != (3, 3):
            return None
        E = K.T @ F @ K
    if E is None or E.shape != (3, 3):
        return None
    _, R, t, _ = cv2.recoverPose(E, p1, p2, K, mask=mask)
    return R, t.ravel()


REFS = ["findFundamentalMat(FM_RANSAC, 0.1, 0.99)", "findEssentialMat(RANSAC, 0.99, 0.1)",
        "findFundamentalMat(USAC_MAGSAC, 0.1, 0.99)"]


def estimator_only(method: str, p1: np.ndarray, p2: np.ndarray, K: np.ndarray) -> None:
    if "Essential" in method:
        cv2.findEssentialMat(p1, p2, K, cv2.RANSAC, 0.99, 0.1)
    else:
        cv2.findFundamentalMat(p1, p2, cv2.FM_RANSAC if "FM_RANSAC" in method else cv2.USAC_MAGSAC, 0.1, 0.99)


def paired_speedup(flows, scores, K, pairs, batch: int, rounds: int) -> np.ndarray:
    """Speed-up of the core (batches of ``batch``) over FM_RANSAC alone, each run over all
    pairs, back to back, round after round (which of the two goes first alternates).  This
    machine's speed drifts by up to 30 % over minutes; each ratio here compares two timings
    taken a fraction of a second apart, so the drift cancels out of it.  (Timing one batch
    of 16 right after 150 ms of OpenCV instead adds the cost of a cold start to every call:
    the Python and torch code around the kernels has left the caches by then.)"""
    B = len(flows)
    ratios = []
    for r in range(rounds):
        t = {}
        for who in (("ours", "fm") if r % 2 == 0 else ("fm", "ours")):
            t0 = time.perf_counter()
            if who == "ours":
                for i in range(0, B, batch):
                    ours(flows[i:i + batch], scores[i:i + batch], K, seed=r)
            else:
                for a, b in pairs:
                    estimator_only(REFS[0], a, b, K)
            t[who] = time.perf_counter() - t0
        ratios.append(t["fm"] / t["ours"])
    return np.array(ratios)


def bench(name, flows, scores, K, rel, repeat):
    """Every method runs once over all pairs per repeat, methods interleaved within a repeat,
    so a slow spell of the machine hits all of them; the table gives medians over repeats."""
    B = len(flows)
    batch = min(16, B)
    ours_cfg = [(1, False), (batch, False), (batch, True)]
    m = ours(flows, scores, K)[2]
    P1, P2, M = m.p1.numpy(), m.p2.numpy(), m.mask.numpy()
    pairs = [(P1[i][M[i]], P2[i][M[i]]) for i in range(B)]
    ours(flows[:1], scores[:1], K, refine=True)  # warm-up: first-call library initialisation is not per-pair cost
    for meth in REFS:
        opencv(meth, *pairs[0], K)
    t_ours = {c: [] for c in ours_cfg}
    t_ransac = []  # the estimator alone (RANSAC on the sampled matches), batch 16: like for like with OpenCV's
    p1_all, p2_all = m.p1, m.p2
    t_ref = {meth: [] for meth in REFS}
    t_alone = {meth: [] for meth in REFS}
    res_ours, res_ref = {}, {}
    for _ in range(repeat):
        for c in ours_cfg:
            bs, refine = c
            t0 = time.perf_counter()
            outs = [ours(flows[i:i + bs], scores[i:i + bs], K, refine=refine) for i in range(0, B, bs)]
            t_ours[c].append((time.perf_counter() - t0) / B)
            res_ours[c] = outs
        t0 = time.perf_counter()
        for i in range(0, B, batch):
            batched.ransac_fundamental(p1_all[i:i + batch], p2_all[i:i + batch], threshold=0.1, confidence=0.99,
                                       max_iters=1000, seed=0, check_planar=False)
        t_ransac.append((time.perf_counter() - t0) / B)
        for meth in REFS:
            t0 = time.perf_counter()
            res_ref[meth] = [opencv(meth, a, b, K) for a, b in pairs]
            t_ref[meth].append((time.perf_counter() - t0) / B)
            t0 = time.perf_counter()
            for a, b in pairs:
                estimator_only(meth, a, b, K)
            t_alone[meth].append((time.perf_counter() - t0) / B)
    rows = []
    for c in ours_cfg:
        R = np.concatenate([o[0] for o in res_ours[c]])
        t = np.concatenate([o[1] for o in res_ours[c]])
        e = np.array([errors(R[i], t[i], rel[i]) for i in range(B)])
        what = "sample+RANSAC+pose+refine, as in vo-run" if c[1] else "sample+RANSAC+pose"
        rows.append((f"vo_app core, batch {c[0]} ({what})", np.median(t_ours[c]) * 1e3, e[:, 0], e[:, 1]))
    for meth in REFS:
        errs = [errors(o[0], o[1], rel[i]) if o is not None else (np.nan, np.nan) for i, o in enumerate(res_ref[meth])]
        e = np.array(errs)
        rows.append((f"cv2.{meth} + recoverPose", np.median(t_ref[meth]) * 1e3, e[:, 0], e[:, 1]))
    base = rows[3][1]
    fm_alone = np.median(t_alone[REFS[0]]) * 1e3
    print(f"\n### {name}: {B} pairs at {SIZE[0]}x{SIZE[1]}, 6000 matches each, {torch.get_num_threads()} CPU threads, "
          f"medians of {repeat} interleaved repeats\n")
    print("| method | ms / pair | speed-up vs FM_RANSAC + recoverPose | speed-up vs FM_RANSAC alone "
          f"({fm_alone:.2f} ms) | median rot. err (deg) | median t-dir err (deg) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {base / r[1]:.1f}x | {fm_alone / r[1]:.1f}x | {np.nanmedian(r[2]):.4f} | "
              f"{np.nanmedian(r[3]):.3f} |")
    print("\nestimator alone (ms / pair, all pairs): "
          + ", ".join(f"{k}: {np.median(v) * 1e3:.2f}" for k, v in t_alone.items()))
    print(f"vo_app RANSAC alone (batch {batch}, on the same sampled matches): {np.median(t_ransac) * 1e3:.2f} ms / pair, "
          f"{fm_alone / (np.median(t_ransac) * 1e3):.1f}x faster than FM_RANSAC alone")
    # the speed-up of each repeat against FM_RANSAC alone in the same repeat: its spread
    ratios = np.array(t_alone[REFS[0]]) / np.array(t_ours[(batch, False)])
    print(f"speed-up of batch {batch} vs FM_RANSAC alone, per repeat: min {ratios.min():.1f}x, "
          f"median {np.median(ratios):.1f}x, max {ratios.max():.1f}x")
    paired = paired_speedup(flows, scores, K, pairs, batch, rounds=max(12, 2 * repeat))
    q1, q3 = np.percentile(paired, [25, 75])
    print(f"paired speed-up of batch {batch} (sample+RANSAC+pose) vs FM_RANSAC alone, all {B} pairs each, back to "
          f"back, {len(paired)} rounds: median {np.median(paired):.1f}x (quartiles {q1:.1f}x-{q3:.1f}x, "
          f"min {paired.min():.1f}x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cv2.setRNGSeed(0)
    for name, data in match_sets(args.pairs):
        bench(name, *data, args.repeat)
    cuda = torch.cuda.is_available() and geo._ext.available() and geo._ext._core.cuda_device_count() > 0
    print(f"\nGPU: {'benchmarks/bench_geometry_gpu.py times the CUDA kernels' if cuda else 'n/a (no CUDA device on this machine; benchmarks/bench_geometry_gpu.py times the CUDA kernels on one)'}")


if __name__ == "__main__":
    main()
