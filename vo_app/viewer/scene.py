"""open3d geometry of a run: trajectory and ground-truth polylines, camera frustums, point cloud, and the view.

Imports open3d: only the viewer process and ``vo-view`` import this module.
Poses are ``[4,4]`` camera-to-world (KITTI convention: x right, y down, z forward).
"""
from __future__ import annotations

import numpy as np
import open3d as o3d

from .view_geometry import frustum_depth, frustum_wires, ground_grid, ladder, view_extrinsic  # noqa: F401

TRAJ_COLOR = (1.0, 0.25, 0.1)  # the estimate
GT_COLOR = (0.15, 0.85, 0.35)  # the ground truth
FRUSTUM_COLOR = (0.2, 0.6, 1.0)  # the current camera
PATH_FRUSTUM_COLOR = (0.55, 0.7, 0.95)  # cameras along the path
GRID_COLOR = (0.22, 0.22, 0.26)  # the ground grid (cells: a power of ten)
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


def set_frustum(ls: "o3d.geometry.LineSet", pose, K, size, depth: float, color=FRUSTUM_COLOR):
    """Fill ``ls`` with the wire frustum of a camera at ``pose``."""
    return set_frustums(ls, np.asarray(pose)[None], K, size, depth, color)


def set_ladder(ls: "o3d.geometry.LineSet", positions: np.ndarray, up: np.ndarray, tick: float,
               spacing: float | None = None, color=GT_COLOR):
    """Fill ``ls`` with :func:`.view_geometry.ladder`: the ground truth's line and its rungs."""
    pts, edges = ladder(positions, up, tick, spacing)
    ls.points = _v3(pts)
    ls.lines = o3d.utility.Vector2iVector(edges)
    ls.colors = _v3(np.tile(color, (len(edges), 1)))
    return ls


def set_grid(ls: "o3d.geometry.LineSet", poses: np.ndarray, cell: float | None = None, color=GRID_COLOR) -> float:
    """Fill ``ls`` with :func:`.view_geometry.ground_grid` under ``poses``; returns the cell size."""
    pts, edges, cell = ground_grid(poses, cell=cell)
    ls.points = _v3(pts)
    ls.lines = o3d.utility.Vector2iVector(edges)
    ls.colors = _v3(np.tile(color, (len(edges), 1)))
    return cell


def set_cloud(pc: "o3d.geometry.PointCloud", points: np.ndarray, colors: np.ndarray | None):
    pc.points = _v3(points)
    if colors is not None and len(colors) == len(points):
        pc.colors = _v3(colors)
    return pc


def set_frustums(ls: "o3d.geometry.LineSet", poses: np.ndarray, K, size, depth: float, color=PATH_FRUSTUM_COLOR):
    """Fill ``ls`` with the wire frustums of all ``poses [M,4,4]`` (one line set)."""
    pts, edges = frustum_wires(poses, K, size, depth)
    ls.points = _v3(pts)
    ls.lines = o3d.utility.Vector2iVector(edges)
    ls.colors = _v3(np.tile(color, (len(edges), 1)))
    return ls


def apply_view(vis, view: dict) -> None:
    """Put the viewer's virtual camera at ``view`` (:func:`.view_geometry.follow_view` / ``overview``).

    The clipping planes go with the view (1/100 and 1000 times the eye's distance to what it looks at):
    open3d's own follow the bounding box, whose near plane passes the current camera on a long path.
    """
    ctr = vis.get_view_control()
    dist = float(np.linalg.norm(np.asarray(view["lookat"]) - np.asarray(view["eye"])))
    ctr.set_constant_z_near(0.01 * dist)
    ctr.set_constant_z_far(1000.0 * dist)
    params = ctr.convert_to_pinhole_camera_parameters()
    params.extrinsic = view_extrinsic(view)
    ctr.convert_from_pinhole_camera_parameters(params, allow_arbitrary=True)


def style(vis, point_size: float = 2.0) -> None:
    opt = vis.get_render_option()
    opt.background_color = np.asarray(BACKGROUND)
    opt.point_size = point_size
    opt.line_width = 2.0
