"""Video input against the same frames as images: encode a KITTI clip's frames into a lossy video, run
``vo-run`` on the video and on the image folder with the same preset, score both against the clip's
poses with ``vo-eval traj``, and print the table (docs/video.md has the results).

    .venv/bin/python benchmarks/video_accuracy.py CLIP [--config kitti] [--seeds 0 1 2 3 4] [--codec mp4v]
        [--lossless] [--work /tmp/video_accuracy]

CLIP is a KITTI odometry folder (image_0/ or image_2/, calib.txt, poses.txt, times.txt).  The video
(``--codec``: a FourCC OpenCV's FFmpeg can write; mp4v is MPEG-4 part 2, lossy) and every run's
output go under ``--work``, never into the repository.  ``--lossless`` adds a row for an FFV1 (lossless)
video of the same frames, which separates what the reader does from what the codec loses.  One run's ATE moves with ``--seed`` (the match
sampling and RANSAC) by more than the video's loss, so each input runs once per seed and the table
gives every seed and the median.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vo_app.io import open_sequence


def encode(clip: Path, video: Path, codec: str, fps: float) -> dict:
    """Write the clip's frames into ``video``; returns its size, frame count and PSNR against the frames."""
    seq = open_sequence(clip, size=None)
    paths = seq.image_paths
    first = cv2.imread(paths[0], cv2.IMREAD_COLOR)
    H, W = first.shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*codec), fps, (W, H))
    if not writer.isOpened():
        sys.exit(f"video_accuracy: OpenCV cannot write {codec!r} video here")
    for p in paths:
        writer.write(cv2.imread(p, cv2.IMREAD_COLOR))
    writer.release()
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    mse = []
    for p in paths:
        ok, img = cap.read()
        if not ok:
            break
        ref = cv2.imread(p, cv2.IMREAD_GRAYSCALE).astype(np.float64)
        mse.append(np.mean((cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float64) - ref) ** 2))
    cap.release()
    psnr = 10 * np.log10(255.0 ** 2 / np.mean(mse)) if mse else float("nan")
    return {"bytes": video.stat().st_size, "frames": len(mse), "psnr_db": psnr, "size": (W, H)}


def run(args: list, out: Path) -> float:
    """``vo-run args --out out``; returns the wall time in seconds."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vo_app.cli.run", *map(str, args), "--quiet", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def ate(est: Path, gt: Path, out: Path) -> dict:
    subprocess.run([sys.executable, "-m", "vo_app.cli.eval", "traj", "--est", str(est), "--gt", str(gt),
                    "--json", str(out)], check=True, stdout=subprocess.DEVNULL)
    return next(iter(json.loads(out.read_text())["results"].values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("--config", default="kitti")
    ap.add_argument("--codec", default="mp4v")
    ap.add_argument("--fps", type=float, default=10.0, help="frame rate written into the video")
    ap.add_argument("--work", type=Path, default=Path("/tmp/video_accuracy"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--lossless", action="store_true", help="also an FFV1 (lossless) .mkv video")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    seq = open_sequence(a.clip, size=None)
    K = seq.native_intrinsics
    intr = a.work / "intrinsics.txt"
    intr.write_text(f"{K.fx!r} {K.fy!r} {K.cx!r} {K.cy!r}\n")
    video = a.work / f"{a.clip.name}.{'mp4' if a.codec in ('mp4v', 'avc1') else 'avi'}"
    info = encode(a.clip, video, a.codec, a.fps)
    gt = a.clip / "poses.txt"
    inputs = [("image folder", [a.clip, "--config", a.config]),
              (f"video ({a.codec})", [video, "--intrinsics", intr, "--config", a.config])]
    if a.lossless:
        lossless = a.work / f"{a.clip.name}_ffv1.mkv"
        ll = encode(a.clip, lossless, "FFV1", a.fps)
        inputs.append(("video (FFV1, lossless)", [lossless, "--intrinsics", intr, "--config", a.config]))
    rows = []
    for name, args in inputs:
        errs, walls = [], []
        for seed in a.seeds:
            out = a.work / f"run_{name.split()[0]}{'_ffv1' if 'FFV1' in name else ''}_seed{seed}"
            walls.append(run([*args, "--seed", seed], out))
            errs.append(ate(out / "trajectory_kitti.txt", gt, out / "eval.json")["ate_m"]["rmse"])
        rows.append((name, errs, float(np.median(walls))))
    W, H = info["size"]
    print(f"clip: {a.clip.name}, {info['frames']} frames {W}x{H}; video: {video} ({info['bytes'] / 1e6:.2f} MB, "
          f"{8 * info['bytes'] / (info['frames'] / a.fps) / 1e6:.1f} Mbit/s at {a.fps:g} Hz, "
          f"PSNR {info['psnr_db']:.1f} dB against the frames)")
    if a.lossless:
        print(f"lossless video: {lossless} ({ll['bytes'] / 1e6:.2f} MB, PSNR {ll['psnr_db']:.1f} dB)")
    seeds = " ".join(map(str, a.seeds))
    print(f"| input | --config | ATE RMSE Sim(3) (m), seeds {seeds} | median | median / image folder's | "
          f"median wall time (s) |")
    print("|---|---|---|---|---|---|")
    base = float(np.median(rows[0][1]))
    for name, errs, wall in rows:
        med = float(np.median(errs))
        print(f"| {name} | {a.config} | {' '.join(f'{e:.4f}' for e in errs)} | {med:.4f} | {med / base:.3f} | "
              f"{wall:.1f} |")


if __name__ == "__main__":
    main()
