"""``map.ply``: the accumulated point cloud of a run, written atomically.

Binary little-endian PLY (x y z as double, red green blue as uchar), the layout
``open3d.io.write_point_cloud`` writes, readable by open3d and MeshLab.  The bytes are made
with NumPy and written through :func:`vo_app.io.atomic.atomic_write_bytes`, so ``map.ply``
gets the permissions of the run's other outputs and never exists half-written, and
``--save-ply`` does not depend on the viewer's system libraries.
"""
from __future__ import annotations

import os
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
    points = np.asarray(points, np.float64).reshape(-1, 3)
    colors = np.full_like(points, 0.7) if colors is None else np.asarray(colors, np.float64).reshape(-1, 3)
    return atomic_write_bytes(Path(path), _ply_bytes(points, colors))


def read_ply(path: "str | os.PathLike[str]") -> tuple[np.ndarray, np.ndarray | None]:
    """``(points [M,3], colors [M,3] or None)`` of a PLY file, with open3d."""
    import open3d as o3d

    pc = o3d.io.read_point_cloud(str(path), format="ply")
    pts = np.asarray(pc.points)
    if len(pts) == 0 and Path(path).stat().st_size > 200:
        raise UserError("cannot read this point cloud", path=path, fix="re-run vo-run --save-ply, or delete the file")
    return pts, (np.asarray(pc.colors) if pc.has_colors() else None)
