"""TUM RGB-D sequence folders, and timestamp association.

Layout::

    rgb.txt           "timestamp rgb/<file>.png" per line (# comments)
    depth.txt         optional, same form; depth PNGs are uint16 = metres * 5000
    groundtruth.txt   optional, "timestamp tx ty tz qx qy qz qw"

Depth is matched to each image by the nearest timestamp within 0.02 s.
Ground truth is interpolated at each image timestamp (linear translation,
geodesic rotation: ``vo_app.geometry.se3.interpolate``) between the bracketing
samples; an image outside the ground-truth time span takes the nearest sample
within 0.05 s, and if any selected image has neither, ``gt_poses`` is None.

Intrinsics: the ``intrinsics`` argument, else ``intrinsics.txt`` /
``camera.txt`` in the folder, else the published calibration of the
``freiburg1/2/3`` camera named in the folder name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vo_app.errors import UserError
from vo_app.geometry.se3 import interpolate
from vo_app.io.calib import find_intrinsics_file, read_intrinsics_file, resolve_intrinsics, tum_intrinsics_for
from vo_app.io.sequence import ReadOptions, Sequence, probe_size, select_indices
from vo_app.io.trajectory import read_tum

DEPTH_SCALE = 5000.0
MAX_DEPTH_DT = 0.02
MAX_GT_EXTRAPOLATION_DT = 0.05
LIST_FORMAT = "expected 'timestamp path' per line"


class TumSequence(Sequence):
    """A TUM RGB-D sequence."""

    layout = "tum"


def read_file_list(path: Path) -> tuple[np.ndarray, list[str]]:
    """``rgb.txt`` / ``depth.txt`` -> ``(timestamps [N], relative paths)``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read file ({exc.strerror or exc})", path=path, fix=LIST_FORMAT) from None
    times, names = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split(maxsplit=1)
        try:
            t = float(fields[0])
        except ValueError:
            raise UserError(f"line {lineno}: bad timestamp {fields[0]!r}", path=path, fix=LIST_FORMAT) from None
        if len(fields) < 2 or not np.isfinite(t):
            raise UserError(f"line {lineno}: expected a timestamp and a file name", path=path, fix=LIST_FORMAT)
        times.append(t)
        names.append(fields[1].strip())
    return np.array(times, dtype=np.float64), names


def nearest(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ``query`` time, the index of the nearest ``ref`` time (``ref`` sorted) and ``|dt|``."""
    ref = np.asarray(ref, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    hi = np.clip(np.searchsorted(ref, query), 0, len(ref) - 1)
    lo = np.clip(hi - 1, 0, len(ref) - 1)
    pick = np.where(np.abs(ref[lo] - query) <= np.abs(ref[hi] - query), lo, hi)
    return pick, np.abs(ref[pick] - query)


def associate_poses(query: np.ndarray, gt_t: np.ndarray, gt_poses: np.ndarray,
                    max_outside_dt: float = MAX_GT_EXTRAPOLATION_DT) -> np.ndarray | None:
    """Ground-truth poses ``[N, 4, 4]`` at ``query`` times, or None if some time cannot be matched.

    Inside the ground-truth time span the pose is interpolated between the
    bracketing samples; outside it the nearest sample within ``max_outside_dt`` is used.
    """
    order = np.argsort(gt_t, kind="stable")
    gt_t, gt_poses = np.asarray(gt_t)[order], np.asarray(gt_poses)[order]
    query = np.asarray(query, dtype=np.float64)
    inside = (query >= gt_t[0]) & (query <= gt_t[-1])
    out = np.empty((len(query), 4, 4))
    if np.any(~inside):
        idx, dt = nearest(query[~inside], gt_t)
        if np.any(dt > max_outside_dt):
            return None
        out[~inside] = gt_poses[idx]
    if np.any(inside):
        q = query[inside]
        i1 = np.clip(np.searchsorted(gt_t, q, side="right"), 1, len(gt_t) - 1)
        i0 = i1 - 1
        span = gt_t[i1] - gt_t[i0]
        alpha = np.clip(np.where(span > 0, (q - gt_t[i0]) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
        if len(gt_t) == 1:
            out[inside] = gt_poses[0]
        else:
            out[inside] = interpolate(gt_poses[i0], gt_poses[i1], alpha)
    return out


def is_tum(root: Path) -> bool:
    return (root / "rgb.txt").is_file()


def _intrinsics(root: Path, opts: ReadOptions, W: int, H: int):
    K = resolve_intrinsics(opts.intrinsics, W, H, opts.fov)
    if K is None:
        f = find_intrinsics_file([root], ("intrinsics.txt", "camera.txt"))
        K = read_intrinsics_file(f, W, H) if f else tum_intrinsics_for(root.resolve().name, W, H)
    if K is None:
        raise UserError("no camera intrinsics found (no intrinsics.txt, folder name without freiburg1/2/3)",
                        path=root, fix="pass --intrinsics FILE with 'fx fy cx cy [k1 k2 p1 p2 [k3]]'")
    return K


def open_tum(root: "str | Path", opts: ReadOptions) -> TumSequence:
    """Open a TUM RGB-D folder (see the module docstring)."""
    root = Path(root)
    rgb_txt = root / "rgb.txt"
    if not rgb_txt.is_file():
        raise UserError("no rgb.txt in this TUM-style folder", path=root,
                        fix="add rgb.txt ('timestamp rgb/file.png' per line) or pass --layout folder")
    all_t, names = read_file_list(rgb_txt)
    if not names:
        raise UserError("rgb.txt lists no images", path=rgb_txt, fix=LIST_FORMAT)
    order = np.argsort(all_t, kind="stable")  # rgb.txt is time-ordered; make sure.
    all_t, names = all_t[order], [names[i] for i in order]
    sel = select_indices(len(names), opts, root)
    paths = [str(root / names[i]) for i in sel]
    t = all_t[sel]
    W, H = probe_size(paths, root)
    K = _intrinsics(root, opts, W, H)

    depth_paths = None
    depth_txt = root / "depth.txt"
    if depth_txt.is_file():
        d_t, d_names = read_file_list(depth_txt)
        if len(d_t):
            d_order = np.argsort(d_t, kind="stable")
            idx, dt = nearest(t, d_t[d_order])
            depth_paths = [str(root / d_names[d_order[j]]) if e <= MAX_DEPTH_DT else None for j, e in zip(idx, dt)]

    gt = None
    gt_file = root / "groundtruth.txt"
    if gt_file.is_file():
        gt_t, gt_poses = read_tum(gt_file)
        gt = associate_poses(t, gt_t, gt_poses)

    return TumSequence(root, image_paths=paths, source_indices=sel, timestamps=t, has_real_timestamps=True,
                       intrinsics=K, options=opts, gt_poses=gt, depth_paths=depth_paths, depth_scale=DEPTH_SCALE)
