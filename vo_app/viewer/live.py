"""The viewer process: an open3d window fed by a queue of updates from the VO process.

Runs in its own (spawned) process, at a lower priority than VO, and redraws at
most ``max_fps`` times a second.  Messages on the queue:

* ``("update", {"poses": [K,4,4], "indices": [K] frame indices, "points": [M,3] float32 | None,
  "colors": [M,3] uint8 | None})``
* ``("done", None)``: the run is over: the view moves back to show the whole path
  (the window stays until closed, or closes at once with ``close_at_end``); with
  ``snapshot`` set, that view is saved to the PNG first.

Drawn: the map (points coloured from the images), the estimated path (red), a
camera frustum every few frustum sizes of travel along it, the current camera
(blue), a grid under the path (cells a power of ten: 10 m for a 60 m drive) and,
with ``options["gt_poses"]``, the ground truth (green, with a rung across it at its
frames so it shows under a good estimate; anchored at the first frame and scaled to
the estimate's path length: a display, not a metric).  The
view follows from above and behind the current camera.

The status queue gets ``("ready", None)`` or ``("error", one_line_reason)``.
Closing the window ends this process only; the VO process notices and goes on.
Keys: ``F`` toggles follow mode (off: the view stays where you put it).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import time

import numpy as np

from .render_env import prepare_render_env
from .view_geometry import (display_ground_truth, follow_view, grid_spacing, overview, path_frustum_indices,
                            recent_depth, world_up)
from .voxel_map import VoxelMap


class LiveScene:
    """Trajectory, cameras along it, current frustum, ground truth and map, kept in open3d geometries.

    Args:
        gt_poses: ``[G,4,4]`` ground truth of the sequence's frames (row = frame index), or None.
    """

    def __init__(self, vis, K: np.ndarray, size: tuple[int, int], voxel_size: float | None = None,
                 gt_poses: np.ndarray | None = None):
        import open3d as o3d

        from . import scene

        self.scene, self.vis, self.K, self.size = scene, vis, np.asarray(K, np.float64), tuple(size)
        self.map = VoxelMap(voxel_size)
        self.poses: list[np.ndarray] = []
        self.indices: list[int] = []
        self.gt_poses = None if gt_poses is None else np.asarray(gt_poses, np.float64)
        self.cloud = o3d.geometry.PointCloud()
        self.traj = o3d.geometry.LineSet()
        self.gt = o3d.geometry.LineSet()
        self.grid = o3d.geometry.LineSet()
        self.cameras = o3d.geometry.LineSet()  # frustums along the path
        self.frustum = o3d.geometry.LineSet()  # the current camera
        self._added: set[int] = set()
        self.follow = True
        self.final = False  # the run is over: the view shows the whole path

    @property
    def pose(self) -> np.ndarray:
        return self.poses[-1] if self.poses else np.eye(4)

    def apply(self, data: dict) -> None:
        poses = data.get("poses")
        if poses is not None and len(poses):
            poses = np.asarray(poses, np.float64)
            idx = data.get("indices")
            start = self.indices[-1] + 1 if self.indices else 0
            idx = range(start, start + len(poses)) if idx is None else idx
            self.poses.extend(poses)
            self.indices.extend(int(i) for i in idx)
        if data.get("points") is not None:
            cols = data.get("colors")
            self.map.add(data["points"], None if cols is None else np.asarray(cols, np.float32) / 255.0,
                         origin=self.pose[:3, 3])

    def geometry(self) -> dict:
        """Fill the geometries from the current state; returns them by name (tests look at them)."""
        sc = self.scene
        poses = np.asarray(self.poses, np.float64).reshape(-1, 4, 4)
        pos = poses[:, :3, 3]
        # sizes for the view: the whole path's at the end, the current motion's while following it
        depth = sc.frustum_depth(pos) if self.final else recent_depth(pos)
        sc.set_cloud(self.cloud, self.map.points, self.map.colors)
        if len(poses):
            sc.set_grid(self.grid, poses, cell=None if self.final else grid_spacing(10.0 * depth))
        sc.set_polyline(self.traj, pos)
        sc.set_frustum(self.frustum, self.pose, self.K, self.size, depth)
        sc.set_frustums(self.cameras, poses[path_frustum_indices(poses, spacing=2.5 * depth)] if len(poses) else
                        poses, self.K, self.size, 0.6 * depth)
        if self.gt_poses is not None and len(poses):
            shown = display_ground_truth(self.gt_poses, poses, np.asarray(self.indices))
            sc.set_ladder(self.gt, shown[:, :3, 3], world_up(poses), 0.4 * depth, spacing=depth)
        return {"grid": self.grid, "cloud": self.cloud, "trajectory": self.traj, "ground_truth": self.gt,
                "cameras": self.cameras, "frustum": self.frustum}

    def view(self) -> dict | None:
        """Where the virtual camera goes: behind the current camera, or, once the run is over, the whole path."""
        if not self.poses:
            return None
        poses = np.asarray(self.poses, np.float64)
        return overview(poses) if self.final else follow_view(poses)

    def redraw(self) -> None:
        for g in self.geometry().values():
            if id(g) in self._added:
                self.vis.update_geometry(g)
            elif not g.is_empty():  # open3d does not draw a geometry added while empty
                self.vis.add_geometry(g, reset_bounding_box=True)
                self._added.add(id(g))
        view = self.view()
        if self.follow and view is not None:
            self.scene.apply_view(self.vis, view)


def viewer_main(updates, status, options: dict) -> None:
    """Process entry point (spawn): open the window, then draw updates until the window closes."""
    prepare_render_env(background=True)
    from .availability import explain_import_error

    try:
        import open3d as o3d
    except (ImportError, OSError) as exc:
        status.put(("error", explain_import_error(exc)))
        return
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    vis = o3d.visualization.VisualizerWithKeyCallback()
    w, h = options.get("window", (1024, 640))
    if not vis.create_window(window_name=options.get("title", "vo_app"), width=w, height=h):
        status.put(("error", f"could not open a window on DISPLAY={os.environ.get('DISPLAY', '')!r}"))
        return
    status.put(("ready", None))
    from .capture import capture_png
    from .scene import style

    style(vis)
    live = LiveScene(vis, options["K"], options["size"], gt_poses=options.get("gt_poses"))

    def toggle_follow(v):
        live.follow = not live.follow
        return False

    vis.register_key_callback(ord("F"), toggle_follow)
    parent = mp.parent_process()
    min_dt = 1.0 / float(options.get("max_fps", 10.0))
    dirty, done, snapped, last_draw = False, False, False, 0.0
    try:
        while True:
            while True:
                try:
                    kind, data = updates.get_nowait()
                except queue_mod.Empty:
                    break
                if kind == "done":
                    done = live.final = dirty = True  # the whole path, from above and behind
                else:
                    live.apply(data)
                    dirty = True
            now = time.monotonic()
            if done and options.get("snapshot") and not snapped:
                live.redraw()
                capture_png(vis, options["snapshot"])
                dirty, snapped = False, True
            if dirty and now - last_draw >= min_dt:
                live.redraw()
                dirty, last_draw = False, now
                vis.update_renderer()
            if not vis.poll_events():
                break  # the user closed the window
            if done and not dirty and options.get("close_at_end"):
                break
            if parent is not None and not parent.is_alive():
                break
            time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        vis.destroy_window()
