"""KITTI raw drive folders (synced + rectified) and their Velodyne depth.

Layout (``2011_09_26/2011_09_26_drive_0005_sync/`` in the official tree)::

    image_02/data/0000000000.png    left colour camera (or .jpg); image_00/ left gray, 01/03 right
    image_02/timestamps.txt         optional, 'YYYY-MM-DD HH:MM:SS.fffffffff' per frame
    calib_cam_to_cam.txt            'P_rect_02: <12 numbers>', 'R_rect_00: <9 numbers>', 'S_rect_02: W H'
    calib_velo_to_cam.txt           'R: <9 numbers>', 'T: <3 numbers>' (Velodyne -> unrectified camera 0)
    velodyne_points/data/0000000000.bin   optional, float32 (x, y, z, reflectance) per point
    oxts/                           GPS/IMU (not read here)

The calibration files are searched in the drive folder, then in its parent (the date folder of
the official tree).  Intrinsics come from ``P_rect_0<camera>``; ground-truth poses are not read
(``gt_poses`` is None).  :func:`velodyne_depth` projects a scan into a camera image as the KITTI
devkit does, giving sparse metric z-depth.
"""
from __future__ import annotations

import calendar
import re
from pathlib import Path

import numpy as np

from vo_app.errors import UserError
from vo_app.io.calib import read_text, resolve_intrinsics
from vo_app.io.images import ImageReadError, image_size, list_images
from vo_app.io.sequence import ReadOptions, Sequence, probe_size, rows_for_frames, select_indices
from vo_app.io.types import Intrinsics

KITTI_RAW_FPS = 10.0
CAM_TO_CAM = "calib_cam_to_cam.txt"
VELO_TO_CAM = "calib_velo_to_cam.txt"
#: ``image_0<n>`` folders tried when no camera is asked for: left colour first (the depth
#: ground truth of :func:`velodyne_depth` is usually taken in camera 2), then left gray.
CAMERA_ORDER = (2, 0, 3, 1)
_CALIB_FIX = "restore the calibration file of the drive (from the KITTI raw date folder)"


class KittiRawSequence(Sequence):
    """A KITTI raw drive; ``camera`` is the ``image_0<n>`` folder read.

    ``velodyne_depth(i)`` gives the sparse ground-truth depth of selected frame ``i`` at the
    native size (see :func:`velodyne_depth`); ``has_velodyne(i)`` whether its scan exists.
    """

    layout = "kitti_raw"
    camera: int = 2

    def has_velodyne(self, i: int) -> bool:
        return _scan_path(self.root, int(self.source_indices[i]), self.image_paths[i]).is_file()

    def velodyne_depth(self, i: int) -> np.ndarray:
        """``[H, W]`` float32 metres at the native size, 0 where no point; UserError without a scan."""
        return velodyne_depth(self.root, int(self.source_indices[i]), self.camera, image_path=self.image_paths[i])


def _image_dir(root: Path, camera: int) -> Path:
    return root / f"image_0{camera}" / "data"


def is_kitti_raw(root: Path) -> bool:
    """``image_02/data`` or ``image_00/data`` (any camera) and ``calib_cam_to_cam.txt`` here or in the parent."""
    root = Path(root)
    has_images = any(_image_dir(root, c).is_dir() for c in CAMERA_ORDER)
    return has_images and find_calib(root, CAM_TO_CAM) is not None


def find_calib(root: Path, name: str) -> Path | None:
    """``root/name`` or ``root/../name`` (the official tree keeps calibrations in the date folder)."""
    for d in (root, root.resolve().parent):
        if (d / name).is_file():
            return d / name
    return None


def read_calib_file(path: "str | Path") -> dict[str, np.ndarray]:
    """``KEY: numbers`` lines -> ``{KEY: float64 [n]}``; lines with text values (calib_time) are skipped."""
    path = Path(path)
    text = read_text(path, _CALIB_FIX, "calibration file")
    out = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        try:
            values = np.array([float(v) for v in rest.split()], dtype=np.float64)
        except ValueError:
            continue
        if values.size and np.all(np.isfinite(values)):
            out[key.strip()] = values
    return out


def calib_entry(calib: dict, key: str, n: int, path: Path) -> np.ndarray:
    """The ``n`` numbers of ``key`` in a parsed calibration file, or a one-line UserError."""
    if key not in calib:
        raise UserError(f"no '{key}:' line", path=path, fix=_CALIB_FIX)
    v = calib[key]
    if v.size != n:
        raise UserError(f"'{key}' has {v.size} numbers, expected {n}", path=path, fix=_CALIB_FIX)
    return v


def _calib_path(root: Path, name: str) -> Path:
    p = find_calib(root, name)
    if p is None:
        raise UserError(f"no {name} in the drive folder or its parent", path=root, fix=_CALIB_FIX)
    return p


def rectified_projection(root: "str | Path", camera: int = 2) -> np.ndarray:
    """``P_rect_0<camera>`` of ``calib_cam_to_cam.txt``: float64 ``[3, 4]`` (rectified camera 0 -> pixels)."""
    path = _calib_path(Path(root), CAM_TO_CAM)
    return calib_entry(read_calib_file(path), f"P_rect_0{camera}", 12, path).reshape(3, 4)


def velo_to_rectified(root: "str | Path") -> np.ndarray:
    """float64 ``[4, 4]``: Velodyne points (m) -> rectified camera-0 points (m), ``R_rect_00 @ [R | T]``."""
    root = Path(root)
    vpath = _calib_path(root, VELO_TO_CAM)
    velo = read_calib_file(vpath)
    Tr = np.eye(4)
    Tr[:3, :3] = calib_entry(velo, "R", 9, vpath).reshape(3, 3)
    Tr[:3, 3] = calib_entry(velo, "T", 3, vpath)
    cpath = _calib_path(root, CAM_TO_CAM)
    R_rect = np.eye(4)
    R_rect[:3, :3] = calib_entry(read_calib_file(cpath), "R_rect_00", 9, cpath).reshape(3, 3)
    return R_rect @ Tr


def _intrinsics(P: np.ndarray, width: int, height: int, path: Path, camera: int) -> Intrinsics:
    K = P[:, :3] / P[2, 2] if P[2, 2] not in (0.0, 1.0) else P[:, :3]
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise UserError(f"P_rect_0{camera} has non-positive focal lengths", path=path, fix=_CALIB_FIX)
    return Intrinsics(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), int(width), int(height))


def _scan_path(root: Path, index: int, image_path: "str | None" = None) -> Path:
    stem = Path(image_path).stem if image_path is not None else f"{int(index):010d}"
    return Path(root) / "velodyne_points" / "data" / f"{stem}.bin"


def _native_size(root: Path, index: int, camera: int, image_path: "str | None") -> tuple[int, int]:
    """``(W, H)`` of the frame's image, else ``S_rect_0<camera>`` of the calibration."""
    cands = [Path(image_path)] if image_path is not None else []
    cands += [_image_dir(root, camera) / f"{int(index):010d}{ext}" for ext in (".png", ".jpg")]
    for p in cands:
        try:
            return image_size(p)
        except ImageReadError:
            continue
    path = _calib_path(root, CAM_TO_CAM)
    w, h = calib_entry(read_calib_file(path), f"S_rect_0{camera}", 2, path)
    return int(round(w)), int(round(h))


def project_points(points: np.ndarray, velo_to_rect: np.ndarray, P_rect: np.ndarray,
                   width: int, height: int) -> np.ndarray:
    """Sparse depth image from Velodyne points, the KITTI devkit's projection.

    Args:
        points: ``[N, 3+]`` Velodyne x, y, z in metres (further columns, e.g. reflectance, ignored).
        velo_to_rect: ``[4, 4]`` Velodyne -> rectified camera 0 (:func:`velo_to_rectified`).
        P_rect: ``[3, 4]`` rectified projection of the target camera (``P_rect_02``).
        width, height: image size in pixels.

    Returns:
        float32 ``[height, width]``: z-depth in the target camera (the third row of ``P_rect``,
        metres) at the pixel nearest to each projection, 0 where no point falls; points with
        depth <= 0 or outside the image are dropped, and of several points on one pixel the
        nearest is kept.  Pixel (0, 0) is the centre of the top-left pixel (the project's
        convention, vo_app/io/images.py), so a projection ``(u, v)`` lands on
        ``(round(v), round(u))``; the devkit's MATLAB-era ``- 1`` after rounding is not applied.
    """
    pts = np.asarray(points, dtype=np.float64)[:, :3]
    hom = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
    proj = hom @ (P_rect @ velo_to_rect).T  # [N, 3]
    z = proj[:, 2]
    front = z > 0
    proj, z = proj[front], z[front]
    col = np.round(proj[:, 0] / z).astype(np.int64)
    row = np.round(proj[:, 1] / z).astype(np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    col, row, z = col[inside], row[inside], z[inside]
    depth = np.zeros((height, width), np.float32)
    if z.size:
        flat = row * width + col
        order = np.lexsort((z, flat))  # by pixel, nearest first
        pix, first = np.unique(flat[order], return_index=True)
        depth.flat[pix] = z[order][first]
    return depth


def read_scan(path: "str | Path") -> np.ndarray:
    """A Velodyne ``.bin`` -> float32 ``[N, 4]`` (x, y, z in metres, reflectance); UserError if missing or bad."""
    path = Path(path)
    if not path.is_file():
        raise UserError("no Velodyne scan for this frame", path=path,
                        fix="use a frame that has velodyne_points/data/<index>.bin")
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size % 4:
        raise UserError(f"Velodyne scan has {raw.size} floats, not a multiple of 4 (x, y, z, reflectance)",
                        path=path, fix="restore the file from the KITTI raw archive")
    return raw.reshape(-1, 4)


def velodyne_depth(root: "str | Path", frame_index: int, camera: int = 2, *,
                   image_path: "str | None" = None) -> np.ndarray:
    """Sparse metric depth of frame ``frame_index`` of a raw drive, seen by camera ``camera``.

    Projects ``velodyne_points/data/<index:010d>.bin`` with ``R``, ``T`` of
    ``calib_velo_to_cam.txt``, then ``R_rect_00`` and ``P_rect_0<camera>`` of
    ``calib_cam_to_cam.txt`` (see :func:`project_points`).

    Returns:
        float32 ``[H, W]`` z-depth in metres at the camera's native image size, 0 where no point.

    Raises:
        UserError: no scan for the frame, a bad scan, or missing calibration.
    """
    root = Path(root)
    scan = read_scan(_scan_path(root, frame_index, image_path))
    W, H = _native_size(root, frame_index, camera, image_path)
    return project_points(scan, velo_to_rectified(root), rectified_projection(root, camera), W, H)


def _pick_camera(root: Path, camera: int | None) -> int:
    present = [c for c in CAMERA_ORDER if list_images(_image_dir(root, c))]
    if camera is None:
        if not present:
            raise UserError("no images in image_02/data or image_00/data", path=root,
                            fix="pass a KITTI raw drive folder (image_02/data/*.png)")
        return present[0]
    if int(camera) not in present:
        have = ", ".join(f"image_0{c}/data" for c in sorted(present)) or "none"
        raise UserError(f"no images in image_0{camera}/data (found: {have})", path=root,
                        fix=f"pass --camera {present[0]}" if present else "pass a KITTI raw drive folder")
    return int(camera)


_STAMP = re.compile(r"^\s*(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(\.\d+)?\s*$")


def read_raw_timestamps(path: Path) -> np.ndarray:
    """``timestamps.txt`` of a raw drive -> float64 ``[N]`` seconds since the Unix epoch (UTC as written)."""
    out = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        m = _STAMP.match(line)
        if m is None:
            raise UserError(f"line {lineno}: not a 'YYYY-MM-DD HH:MM:SS.fff' timestamp", path=path,
                            fix="restore the file from the KITTI raw archive, or remove it (times become index / 10)")
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        out.append(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + float(m.group(7) or 0.0))
    return np.array(out, dtype=np.float64)


def open_kitti_raw(root: "str | Path", opts: ReadOptions) -> KittiRawSequence:
    """Open a KITTI raw drive folder (see the module docstring)."""
    root = Path(root)
    camera = _pick_camera(root, opts.camera)
    image_dir = _image_dir(root, camera)
    all_paths = list_images(image_dir)
    sel = select_indices(len(all_paths), opts, root)
    paths = [str(all_paths[i]) for i in sel]
    W, H = probe_size(paths, root)
    K = resolve_intrinsics(opts.intrinsics, W, H, opts.fov)
    if K is None:
        calib = _calib_path(root, CAM_TO_CAM)
        K = _intrinsics(rectified_projection(root, camera), W, H, calib, camera)

    times_file = image_dir.parent / "timestamps.txt"
    if times_file.is_file():
        times = read_raw_timestamps(times_file)
        timestamps = times[rows_for_frames(all_paths, sel, len(times), times_file, "timestamp")]
        real = True
    else:
        timestamps = sel / float(opts.fps or KITTI_RAW_FPS)
        real = False

    seq = KittiRawSequence(root, image_paths=paths, source_indices=sel, timestamps=timestamps,
                           has_real_timestamps=real, intrinsics=K, options=opts, gt_poses=None)
    seq.camera = camera
    return seq
