"""A plain folder of images (png/jpg/jpeg/bmp/tif/tiff/ppm/pgm).

Images are the files directly in the folder, or in a ``color/``, ``rgb/``,
``images/`` or ``image_left/`` subfolder, in natural order (frame2 before
frame10).  Beside them, searched in the image folder, the given folder and its
parent:

* intrinsics (required): ``intrinsics.txt``, ``camera.txt``,
  ``camera-intrinsics.txt`` or ``calib.txt`` (see calib.py), unless passed (a file or ``fov``);
  distortion coefficients, if any, are removed with precomputed maps;
* timestamps (optional): ``times.txt`` (one time per line, or ``t name``) or
  ``rgb.txt`` (``t name``), else a TUM ``groundtruth*.txt`` with exactly one
  row per image (rows taken in order), else ``index / fps`` (fps default 10);
* depth (optional, for ``--scale rgbd``): 7-Scenes style ``depth/<name>.depth.png`` beside
  ``color/<name>.color.<ext>`` (uint16 millimetres; 0 and 65535 invalid), for the frames that
  have one.  7-Scenes' raw Kinect depth is not registered to the colour image; it is used as if
  it were (docs/scale.md says what that costs);
* ground truth (optional): TUM-format ``groundtruth*.txt``, taken row by row
  when it has one row per image and no timestamps file exists, else matched
  by timestamp as for TUM folders (with ``index / fps`` times only when
  ``fps`` is given explicitly), else None.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vo_app.errors import UserError
from vo_app.io.calib import find_intrinsics_file, read_intrinsics_file, resolve_intrinsics
from vo_app.io.images import list_images
from vo_app.io.sequence import ReadOptions, Sequence, probe_size, rows_for_frames, select_indices
from vo_app.io.trajectory import read_tum
from vo_app.io.tum import associate_poses, read_file_list

DEFAULT_FPS = 10.0
#: 7-Scenes depth PNGs: millimetres.
SEVEN_SCENES_DEPTH_SCALE = 1000.0
IMAGE_SUBFOLDERS = ("color", "rgb", "images", "image_left")


class FolderSequence(Sequence):
    """A folder of images with an intrinsics file."""

    layout = "folder"


def image_folder(root: Path) -> Path | None:
    """``root`` if it holds images, else its first image subfolder that does, else None."""
    if list_images(root):
        return root
    for sub in IMAGE_SUBFOLDERS:
        if list_images(root / sub):
            return root / sub
    return None


def _search_dirs(image_dir: Path, root: Path) -> list[Path]:
    dirs = []
    for d in (image_dir, root, root.resolve().parent):
        if d.resolve() not in [x.resolve() for x in dirs]:
            dirs.append(d)
    return dirs


def _depth_paths(image_dir: Path, paths: list[str]) -> list[str | None] | None:
    """``depth/<name>.depth.png`` for each ``color/<name>.color.*`` image (None where absent), or None
    when no image has one."""
    depth_dir = image_dir.parent / "depth"
    if image_dir.name != "color" or not depth_dir.is_dir():
        return None
    out = []
    for p in paths:
        name = Path(p).name
        stem = name.split(".color.", 1)[0] if ".color." in name else None
        d = depth_dir / f"{stem}.depth.png" if stem else None
        out.append(str(d) if d is not None and d.is_file() else None)
    return out if any(d is not None for d in out) else None


def _timestamps(dirs: list[Path], all_paths: list[Path], sel: np.ndarray) -> np.ndarray | None:
    """Timestamps of the selected images from ``times.txt`` / ``rgb.txt``, or None if there is none."""
    for d in dirs:
        for name in ("times.txt", "rgb.txt"):
            f = d / name
            if not f.is_file():
                continue
            t, names = read_file_list_or_column(f)
            if names is None:
                return t[rows_for_frames(all_paths, sel, len(t), f, "timestamp")]
            by_name = {Path(n).name: ti for ti, n in zip(t, names)}
            missing = [all_paths[i].name for i in sel if all_paths[i].name not in by_name]
            if missing:
                raise UserError(f"no timestamp for {missing[0]} ({len(missing)} images missing)", path=f,
                                fix="list every image as 'timestamp name', or remove the file")
            return np.array([by_name[all_paths[i].name] for i in sel])
    return None


def read_file_list_or_column(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """A times file: one number per line -> ``(t, None)``; ``t name`` lines -> ``(t, names)``."""
    lines = [ln.split("#", 1)[0].split() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    if all(len(f) <= 1 for f in lines):
        try:
            return np.array([float(f[0]) for f in lines if f], dtype=np.float64), None
        except ValueError:
            raise UserError("non-numeric timestamp", path=path, fix="one timestamp (seconds) per line") from None
    return read_file_list(path)


def open_folder(root: "str | Path", opts: ReadOptions) -> FolderSequence:
    """Open a folder of images (see the module docstring)."""
    root = Path(root)
    image_dir = image_folder(root)
    if image_dir is None:
        raise UserError("no images found (png/jpg/jpeg/bmp/tif/tiff/ppm/pgm)", path=root,
                        fix="pass a folder of images, a KITTI sequence (image_0/ + calib.txt) "
                            "or a TUM folder (rgb.txt)")
    all_paths = list_images(image_dir)
    sel = select_indices(len(all_paths), opts, root)
    paths = [str(all_paths[i]) for i in sel]
    W, H = probe_size(paths, root)
    dirs = _search_dirs(image_dir, root)

    K = resolve_intrinsics(opts.intrinsics, W, H, opts.fov)
    if K is None:
        f = find_intrinsics_file(dirs)
        if f is None:
            raise UserError("no camera intrinsics found (looked for intrinsics.txt, camera.txt, "
                            "camera-intrinsics.txt, calib.txt here and in the parent folder)", path=root,
                            fix="pass --intrinsics FILE with 'fx fy cx cy [k1 k2 p1 p2 [k3]]' (or a 3x3 K), "
                                "or --fov DEG (the horizontal field of view)")
        K = read_intrinsics_file(f, W, H)

    t = _timestamps(dirs, all_paths, sel)
    real = t is not None
    gt = None
    gt_file = next((g for d in dirs for g in sorted(d.glob("groundtruth*.txt")) if g.is_file()), None)
    if gt_file is not None:
        gt_t, gt_poses = read_tum(gt_file)
        if t is None and len(gt_t) == len(all_paths):
            t, gt, real = gt_t[sel], gt_poses[sel], True
        elif t is not None or opts.fps:  # match by time only when the times mean something
            gt = associate_poses(t if t is not None else sel / float(opts.fps), gt_t, gt_poses)
    if t is None:
        t = sel / float(opts.fps or DEFAULT_FPS)

    return FolderSequence(root, image_paths=paths, source_indices=sel, timestamps=t, has_real_timestamps=real,
                          intrinsics=K, options=opts, gt_poses=gt, depth_paths=_depth_paths(image_dir, paths),
                          depth_scale=SEVEN_SCENES_DEPTH_SCALE)
