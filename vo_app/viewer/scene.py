"""open3d geometry of a run: trajectory polyline, camera frustum, point cloud, and the view.

Imports open3d: only the viewer process and ``vo-view`` import this module.
Poses are ``[4,4]`` camera-to-world (KITTI convention: x right, y down, z forward).
"""
from __future__ import annotations

import numpy as np
import open3d as o3d

TRAJ_COLOR = (1.0, 0.25, 0.1)
FRUSTUM_COLOR = (0.2, 0.6, 1.0)
BACKGROUND = (0.08, 0.08, 0.1)


def _v3(a) -> "o3d.utility.Vector3dVector":
    return o3d.utility.Vector3dVector(np.asarray(a, np.float64).reshape(-1, 3))


def set_polyline(ls: "o3d.geometry.LineSet", positions: np.ndarray, color=TRAJ_COLOR) -> "o3d.geometry.LineSet":
    """Fill ``ls`` with the polyline through ``positions [N,3]``."""
    n = len(positions)
    ls.points = _v3(positions if n else np.zeros((0, 3)))
    idx = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1) if n > 1 else np.zeros((0, 2))
    ls.lines = o3d.utility.Vector2iVector(idx.astype(np.int32))
    ls.colors = _v3(np.tile(color, (len(idx), 1)))
    return ls


def frustum_corners(pose: np.ndarray, K: np.ndarray, size: tuple[int, int], depth: float) -> np.ndarray:
    """``[5,3]`` world points: camera centre, then the image corners at ``depth`` (TL, TR, BR, BL)."""
    w, h = size
    pix = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64)
    cam = (pix @ np.linalg.inv(K).T) * depth
    pts = np.concatenate([np.zeros((1, 3)), cam])
    return pts @ pose[:3, :3].T + pose[:3, 3]


def set_frustum(ls: "o3d.geometry.LineSet", pose, K, size, depth: float, color=FRUSTUM_COLOR):
    """Fill ``ls`` with the wire frustum of a camera at ``pose``."""
    lines = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1]], np.int32)
    ls.points = _v3(frustum_corners(pose, K, size, depth))
    ls.lines = o3d.utility.Vector2iVector(lines)
    ls.colors = _v3(np.tile(color, (len(lines), 1)))
    return ls


def set_cloud(pc: "o3d.geometry.PointCloud", points: np.ndarray, colors: np.ndarray | None):
    pc.points = _v3(points)
    if colors is not None and len(colors) == len(points):
        pc.colors = _v3(colors)
    return pc


def frustum_depth(positions: np.ndarray) -> float:
    """A frustum size that reads well: three median steps, or 2% of the path extent."""
    if len(positions) < 2:
        return 1.0
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    extent = float(np.ptp(positions, axis=0).max())
    d = max(3.0 * float(np.median(steps)), 0.02 * extent)
    return d if d > 0 else 1.0


def look_from_above(vis, tilt: float = 1.0, zoom: float = 0.6) -> None:
    """Fit all geometry and look at it from above and behind (camera frames: -y is up, +z forward).

    ``tilt``: how far behind the eye is, relative to its height (0: straight down).
    """
    vis.reset_view_point(True)
    ctr = vis.get_view_control()
    front = np.array([0.0, -1.0, -tilt])
    ctr.set_front(front / np.linalg.norm(front))
    ctr.set_up([0.0, 0.0, 1.0])
    ctr.set_zoom(zoom)


def style(vis, point_size: float = 2.0) -> None:
    opt = vis.get_render_option()
    opt.background_color = np.asarray(BACKGROUND)
    opt.point_size = point_size
    opt.line_width = 2.0
