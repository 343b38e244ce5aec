"""The viewer process: an open3d window fed by a queue of updates from the VO process.

Runs in its own (spawned) process, at a lower priority than VO, and redraws at
most ``max_fps`` times a second.  Messages on the queue:

* ``("update", {"poses": [K,4,4], "points": [M,3] float32 | None, "colors": [M,3] uint8 | None})``
* ``("done", None)``: the run is over (the window stays until closed, or closes
  at once with ``close_at_end``); with ``snapshot`` set, the final view is saved
  to that PNG first.

The status queue gets ``("ready", None)`` or ``("error", one_line_reason)``.
Closing the window ends this process only; the VO process notices and goes on.
Keys: ``F`` toggles follow mode (the view re-fits after every update).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import time

import numpy as np

from .render_env import prepare_render_env
from .voxel_map import VoxelMap


class LiveScene:
    """Trajectory, current frustum and map, kept in open3d geometries."""

    def __init__(self, vis, K: np.ndarray, size: tuple[int, int], voxel_size: float | None = None):
        import open3d as o3d

        from . import scene

        self.scene, self.vis, self.K, self.size = scene, vis, np.asarray(K, np.float64), tuple(size)
        self.map = VoxelMap(voxel_size)
        self.positions: list[np.ndarray] = []
        self.pose = np.eye(4)
        self.cloud = o3d.geometry.PointCloud()
        self.traj = o3d.geometry.LineSet()
        self.frustum = o3d.geometry.LineSet()
        self._added: set[int] = set()
        self.follow = True

    def apply(self, data: dict) -> None:
        poses = data.get("poses")
        if poses is not None and len(poses):
            self.positions.extend(np.asarray(poses)[:, :3, 3])
            self.pose = np.asarray(poses[-1], np.float64)
        if data.get("points") is not None:
            cols = data.get("colors")
            self.map.add(data["points"], None if cols is None else np.asarray(cols, np.float32) / 255.0,
                         origin=self.pose[:3, 3])

    def redraw(self) -> None:
        sc, pos = self.scene, np.asarray(self.positions).reshape(-1, 3)
        sc.set_cloud(self.cloud, self.map.points, self.map.colors)
        sc.set_polyline(self.traj, pos)
        sc.set_frustum(self.frustum, self.pose, self.K, self.size, sc.frustum_depth(pos))
        for g in (self.cloud, self.traj, self.frustum):
            if id(g) in self._added:
                self.vis.update_geometry(g)
            elif not g.is_empty():  # open3d does not draw a geometry added while empty
                self.vis.add_geometry(g, reset_bounding_box=True)
                self._added.add(id(g))
        if self.follow:
            sc.look_from_above(self.vis)


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
    live = LiveScene(vis, options["K"], options["size"])

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
                    done = True
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
