"""Flow-magnitude bias of DIS against the renderer's exact flow, and what a 9x9 LK step does to it.

Usage: .venv/bin/python benchmarks/dis_bias.py
Renders a forward-driving sequence (416x128, 20 frames, seed 0) and prints, for moving
valid pixels (|flow| > 2 px), the mean over pairs of the median relative magnitude error
(|f| - |f_gt|) / |f_gt| and of the median end-point error.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from vo_app.io import open_sequence
from vo_app.models.dis import DISFlow, to_gray_u8
from vo_app.models.klt import refine_matches
from vo_app.io.flo import read_flo
from vo_app.synth import write_sequence


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_sequence(Path(tmp) / "seq", layout="kitti", n_frames=20, width=416, height=128,
                              motion="forward", seed=0)
        frames = [f.image for f in open_sequence(root)]
        rows = {}
        for name in ("medium", "fine"):
            dis = DISFlow(name)
            rel, epe, rel_lk, epe_lk = [], [], [], []
            for k in range(1, len(frames)):
                gt = read_flo(Path(root) / "flow" / f"{k - 1:06d}.flo")
                valid = cv2.imread(str(Path(root) / "flow" / f"{k - 1:06d}_valid.png"), 0) > 0
                f, _ = dis(frames[k - 1], frames[k])
                mag = np.linalg.norm(gt, axis=-1)
                ok = valid & (mag > 2)
                rel.append(np.median((np.linalg.norm(f, axis=-1)[ok] - mag[ok]) / mag[ok]))
                epe.append(np.median(np.linalg.norm(f - gt, axis=-1)[valid]))
                ys, xs = np.nonzero(ok[::2, ::2])
                ys, xs = ys * 2, xs * 2
                p1 = np.stack([xs, ys], -1).astype(np.float64)
                q, good = refine_matches(to_gray_u8(frames[k - 1]), to_gray_u8(frames[k]), p1, p1 + f[ys, xs])
                fl, g = (q - p1)[good], gt[ys, xs][good]
                m = np.linalg.norm(g, axis=-1)
                rel_lk.append(np.median((np.linalg.norm(fl, axis=-1) - m) / m))
                epe_lk.append(np.median(np.linalg.norm(fl - g, axis=-1)))
            rows[f"DIS {name}"] = (np.mean(rel), np.mean(epe))
            rows[f"DIS {name} + LK 9x9"] = (np.mean(rel_lk), np.mean(epe_lk))
    print("| flow | median relative magnitude error | median EPE (px) |")
    print("|---|---|---|")
    for k, (r, e) in rows.items():
        print(f"| {k} | {100 * r:+.2f}% | {e:.3f} |")


if __name__ == "__main__":
    main()
