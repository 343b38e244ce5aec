"""Replay a finished run: its trajectory, last camera and ``map.ply``, in a window or to a PNG.

A run folder holds ``trajectory_kitti.txt`` (required), ``report.json`` (the
working size and intrinsics, for the frustum) and, after ``--save-ply``,
``map.ply``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.trajectory import read_kitti


@dataclass
class RunData:
    """What is drawn: poses ``[N,4,4]``, map ``[M,3]`` (+ colours) and the camera ``K``, ``size``."""

    poses: np.ndarray
    points: np.ndarray
    colors: np.ndarray | None
    K: np.ndarray
    size: tuple[int, int]


def load_run(out_dir: "str | os.PathLike[str]") -> RunData:
    """Read a ``vo-run`` output folder; a missing trajectory is a :class:`UserError`."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UserError("not a directory", path=out_dir, fix="pass the --out folder of a vo-run")
    traj = out_dir / "trajectory_kitti.txt"
    if not traj.is_file():
        raise UserError("no trajectory_kitti.txt here", path=out_dir, fix="pass the --out folder of a finished vo-run")
    poses = read_kitti(traj)
    size, K = (640, 480), None
    try:
        rep = json.loads((out_dir / "report.json").read_text())
        size = tuple(int(v) for v in rep["working_size"])
        i = rep["intrinsics"]
        K = np.array([[i["fx"], 0, i["cx"]], [0, i["fy"], i["cy"]], [0, 0, 1]], np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if K is None:
        K = np.array([[size[0], 0, size[0] / 2], [0, size[0], size[1] / 2], [0, 0, 1]], np.float64)
    points, colors = np.zeros((0, 3)), None
    ply = out_dir / "map.ply"
    if ply.is_file():
        from .ply import read_ply

        points, colors = read_ply(ply)
    return RunData(poses, points, colors, K, size)


def build_window(vis, run: RunData) -> None:
    """Add the run's geometry to an open3d ``Visualizer`` whose window is open: the path, a camera every
    few frustum sizes along it, the last camera, a grid under the path and the map, seen from above and
    behind the whole path."""
    import open3d as o3d

    from . import scene
    from .view_geometry import overview, path_frustum_indices

    scene.style(vis)
    pos = run.poses[:, :3, 3]
    depth = scene.frustum_depth(pos)
    along = run.poses[path_frustum_indices(run.poses, spacing=2.5 * depth)]
    grid = o3d.geometry.LineSet()
    scene.set_grid(grid, run.poses)
    geoms = [grid, scene.set_polyline(o3d.geometry.LineSet(), pos),
             scene.set_frustums(o3d.geometry.LineSet(), along, run.K, run.size, 0.6 * depth),
             scene.set_frustum(o3d.geometry.LineSet(), run.poses[-1], run.K, run.size, depth)]
    if len(run.points):
        geoms.insert(0, scene.set_cloud(o3d.geometry.PointCloud(), run.points, run.colors))
    for g in geoms:
        vis.add_geometry(g, reset_bounding_box=True)
    scene.apply_view(vis, overview(run.poses))


def _open(run: RunData, title: str, size: tuple[int, int], visible: bool):
    from .render_env import prepare_render_env

    prepare_render_env()
    import open3d as o3d

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    vis = o3d.visualization.Visualizer()
    if not vis.create_window(window_name=title, width=size[0], height=size[1], visible=visible):
        raise UserError(f"open3d could not open a window on DISPLAY={os.environ.get('DISPLAY', '')!r}",
                        fix="check the display, or use --screenshot (renders under Xvfb)")
    build_window(vis, run)
    return vis


def show(run: RunData, title: str = "vo_app", size: tuple[int, int] = (1024, 640)) -> None:
    """Interactive window; returns when the user closes it."""
    vis = _open(run, title, size, visible=True)
    try:
        vis.run()
    finally:
        vis.destroy_window()


def screenshot(run: RunData, png: "str | os.PathLike[str]", size: tuple[int, int] = (960, 600)) -> np.ndarray:
    """Render off screen (hidden window) to ``png``; returns the ``[H,W,3]`` uint8 image."""
    from .capture import capture_png

    vis = _open(run, "vo_app", size, visible=False)
    try:
        _, rgb = capture_png(vis, png)
    finally:
        vis.destroy_window()
    return rgb
