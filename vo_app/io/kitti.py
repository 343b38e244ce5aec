"""KITTI odometry sequence folders.

Layout (``sequences/06/`` in the official tree)::

    calib.txt              P0: ... / P2: ... (12 numbers each, K = P[:, :3])
    image_0/000000.png     left gray camera   (or image_2/ for left colour)
    times.txt              optional, one timestamp per line (else index / 10 s)
    poses.txt              optional ground truth, KITTI format; else ../../poses/<name>.txt
    depth/000000.png       optional, uint16 = metres * 256, 0 invalid

Rows of ``times.txt`` / poses are matched to images by the number in the file
name, so a cropped copy of a sequence keeps the full tables.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vo_app.errors import UserError
from vo_app.io.calib import read_kitti_calib, read_number_rows, resolve_intrinsics
from vo_app.io.images import list_images
from vo_app.io.sequence import ReadOptions, Sequence, probe_size, rows_for_frames, select_indices
from vo_app.io.trajectory import read_kitti

KITTI_FPS = 10.0
DEPTH_SCALE = 256.0
CAMERAS = (0, 1, 2, 3)


class KittiSequence(Sequence):
    """A KITTI odometry sequence; ``camera`` is the ``image_<n>`` folder read."""

    layout = "kitti"
    camera: int = 0


def is_kitti(root: Path) -> bool:
    return (root / "calib.txt").is_file() and any((root / f"image_{c}").is_dir() for c in CAMERAS)


def _pick_camera(root: Path, camera: int | None) -> int:
    present = [c for c in CAMERAS if (root / f"image_{c}").is_dir()]
    if camera is None:
        for c in (0, 2, 1, 3):
            if c in present:
                return c
        raise UserError("no image_0/ or image_2/ folder", path=root, fix="pass a KITTI sequence folder")
    if int(camera) not in present:
        have = ", ".join(f"image_{c}/" for c in present) or "none"
        raise UserError(f"no image_{camera}/ folder (found: {have})", path=root,
                        fix=f"pass --camera {present[0]}" if present else "pass a KITTI sequence folder")
    return int(camera)


def _ground_truth_file(root: Path) -> Path | None:
    real = root.resolve()
    for p in (root / "poses.txt", real.parent.parent / "poses" / f"{real.name}.txt"):
        if p.is_file():
            return p
    return None


def open_kitti(root: "str | Path", opts: ReadOptions) -> KittiSequence:
    """Open a KITTI odometry sequence folder (see the module docstring)."""
    root = Path(root)
    camera = _pick_camera(root, opts.camera)
    image_dir = root / f"image_{camera}"
    all_paths = list_images(image_dir)
    if not all_paths:
        raise UserError("no images found", path=image_dir, fix="put the sequence's png frames in this folder")
    sel = select_indices(len(all_paths), opts, root)
    paths = [str(all_paths[i]) for i in sel]
    W, H = probe_size(paths, root)
    calib = root / "calib.txt"
    K = resolve_intrinsics(opts.intrinsics, W, H, opts.fov) or read_kitti_calib(calib, camera, W, H)

    times_file = root / "times.txt"
    if times_file.is_file():
        rows = read_number_rows(times_file, "expected one timestamp (seconds) per line")
        if any(len(r) != 1 for r in rows):
            raise UserError("expected one number per line", path=times_file, fix="one timestamp (seconds) per line")
        times = np.array([r[0] for r in rows])
        timestamps = times[rows_for_frames(all_paths, sel, len(times), times_file, "timestamp")]
        real = True
    else:
        timestamps = sel / float(opts.fps or KITTI_FPS)
        real = False

    gt = None
    gt_file = _ground_truth_file(root)
    if gt_file is not None:
        poses = read_kitti(gt_file)
        gt = poses[rows_for_frames(all_paths, sel, len(poses), gt_file, "pose")]

    depth_paths = None
    if (root / "depth").is_dir():
        depth_paths = [p if p.is_file() else None for p in (root / "depth" / f"{Path(x).stem}.png" for x in paths)]

    seq = KittiSequence(root, image_paths=paths, source_indices=sel, timestamps=timestamps, has_real_timestamps=real,
                        intrinsics=K, options=opts, gt_poses=gt, depth_paths=depth_paths, depth_scale=DEPTH_SCALE)
    seq.camera = camera
    return seq
