"""``map.ply``: the accumulated point cloud of a run, written atomically.

Written with ``open3d.io.write_point_cloud`` (binary little-endian PLY: x y z as
double, red green blue as uchar), readable by open3d and MeshLab.  When open3d
cannot be imported, the same layout is written with NumPy, so ``--save-ply``
does not depend on the viewer's system libraries.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.atomic import atomic_write_bytes


def _ply_bytes(points: np.ndarray, colors: np.ndarray) -> bytes:
    rec = np.zeros(len(points), dtype=[("x", "<f8"), ("y", "<f8"), ("z", "<f8"),
                                        ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    rec["x"], rec["y"], rec["z"] = points[:, 0], points[:, 1], points[:, 2]
    rgb = np.clip(np.rint(colors * 255.0), 0, 255).astype(np.uint8)
    rec["red"], rec["green"], rec["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    header = ("ply\nformat binary_little_endian 1.0\ncomment vo_app map\n"
              f"element vertex {len(points)}\nproperty double x\nproperty double y\nproperty double z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    return header.encode("ascii") + rec.tobytes()


def write_ply(path: "str | os.PathLike[str]", points: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Write ``points [M,3]`` and ``colors [M,3]`` in [0,1] (grey if None) to ``path``; returns it."""
    path = Path(path)
    points = np.asarray(points, np.float64).reshape(-1, 3)
    colors = np.full_like(points, 0.7) if colors is None else np.asarray(colors, np.float64).reshape(-1, 3)
    try:
        import open3d as o3d
    except (ImportError, OSError):
        return atomic_write_bytes(path, _ply_bytes(points, colors))
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp.ply")
        os.close(fd)
    except OSError as exc:
        raise UserError(f"cannot write to directory ({exc.strerror or exc})", path=directory,
                        fix="choose a writable output directory") from None
    try:
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
        pc.colors = o3d.utility.Vector3dVector(np.clip(colors, 0.0, 1.0))
        if not o3d.io.write_point_cloud(tmp, pc, write_ascii=False, compressed=False, print_progress=False):
            raise UserError("open3d could not write the point cloud", path=path, fix="check free disk space")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_ply(path: "str | os.PathLike[str]") -> tuple[np.ndarray, np.ndarray | None]:
    """``(points [M,3], colors [M,3] or None)`` of a PLY file, with open3d."""
    import open3d as o3d

    pc = o3d.io.read_point_cloud(str(path), format="ply")
    pts = np.asarray(pc.points)
    if len(pts) == 0 and Path(path).stat().st_size > 200:
        raise UserError("cannot read this point cloud", path=path, fix="re-run vo-run --save-ply, or delete the file")
    return pts, (np.asarray(pc.colors) if pc.has_colors() else None)
