"""The viewer's scene: frustums along the path, ground truth, image colours, the view from above and behind."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vo_app.viewer.availability import open3d_problem
from vo_app.pipeline.events import pair_points
from vo_app.viewer.view_geometry import (FRUSTUM_EDGES, display_ground_truth, follow_view, frustum_wires,
                                         grid_spacing, ground_grid, ladder, overview, path_frustum_indices,
                                         view_extrinsic, world_up)

REPO = Path(__file__).resolve().parents[1]
K = np.array([[100.0, 0, 80], [0, 100.0, 30], [0, 0, 1]])
SIZE = (160, 60)
O3D_PROBLEM = open3d_problem()
needs_render = pytest.mark.skipif(shutil.which("Xvfb") is None or O3D_PROBLEM is not None,
                                  reason=f"needs Xvfb and open3d ({O3D_PROBLEM or 'no Xvfb'})")


def _yaw(a: float) -> np.ndarray:
    """Rotation about the camera's y axis (down): a car turning."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def drive(n: int = 40, step: float = 1.0, turn: float = 0.03) -> np.ndarray:
    """``[n,4,4]`` camera-to-world poses of a car on flat ground, turning gently (KITTI axes)."""
    poses = np.tile(np.eye(4), (n, 1, 1))
    for i in range(1, n):
        poses[i, :3, :3] = _yaw(turn * i)
        poses[i, :3, 3] = poses[i - 1, :3, 3] + poses[i - 1, :3, :3] @ [0, 0, step]
    return poses


def project(view: dict, X: np.ndarray, f: float = 100.0) -> np.ndarray:
    """Pixels (principal point 0) and depth of world points ``X [N,3]`` seen from ``view``."""
    E = view_extrinsic(view)
    c = X @ E[:3, :3].T + E[:3, 3]
    return np.column_stack([f * c[:, 0] / c[:, 2], f * c[:, 1] / c[:, 2], c[:, 2]])


# ------------------------------------------------------------------ frustums
def test_frustum_wires_put_one_pyramid_on_each_camera():
    poses = drive(6)
    pts, edges = frustum_wires(poses, K, SIZE, depth=2.0)
    assert pts.shape == (30, 3) and edges.shape == (48, 2) and edges.max() == 29
    for m, p in enumerate(poses):
        block = pts[5 * m:5 * m + 5]
        assert np.allclose(block[0], p[:3, 3])  # apex at the camera centre
        cam = (block[1:] - p[:3, 3]) @ p[:3, :3]  # corners in the camera frame
        assert np.allclose(cam[:, 2], 2.0)  # at the given depth, in front
        assert np.allclose((cam[:, :2] / cam[:, 2:]) * 100 + [80, 30], [[0, 0], [160, 0], [160, 60], [0, 60]])
        assert np.array_equal(edges[8 * m:8 * m + 8], FRUSTUM_EDGES + 5 * m)


def test_path_frustums_every_spacing_of_travel_and_on_turns():
    poses = drive(40, step=1.0, turn=0.0)
    assert path_frustum_indices(poses, spacing=5.0).tolist() == [0, 5, 10, 15, 20, 25, 30, 35]
    spin = np.tile(np.eye(4), (12, 1, 1))  # turning on the spot, 10 deg a frame
    for i in range(12):
        spin[i, :3, :3] = _yaw(np.radians(10 * i))
    assert path_frustum_indices(spin, spacing=5.0, max_turn_deg=30.0).tolist() == [0, 3, 6, 9]
    assert path_frustum_indices(np.zeros((0, 4, 4)), 1.0).size == 0


# ------------------------------------------------------------------ ground truth
def test_ground_truth_is_anchored_and_scaled_onto_the_estimate():
    gt = drive(30)
    S = np.eye(4)
    S[:3, :3] = _yaw(0.7)
    S[:3, 3] = [3.0, -1.0, 2.0]
    est = np.linalg.inv(gt[5]) @ gt  # a run from frame 5 on starts at the identity ...
    est[:, :3, 3] *= 0.25  # ... in units of its own
    est = S @ est
    shown = display_ground_truth(gt, est[5:15], np.arange(5, 15))  # 10 frames received so far
    assert shown.shape == gt.shape
    assert np.allclose(shown[5:], est[5:], atol=1e-9)  # a similarity of the GT lands on the estimate
    # a drifting estimate does not move the ground truth's shape, only its anchor and size
    drift = est[5:15].copy()
    drift[:, :3, 3] += np.linspace(0, 0.5, 10)[:, None] * [1.0, 0, 0]
    shown2 = display_ground_truth(gt, drift, np.arange(5, 15))
    assert np.allclose(shown2[5], drift[0])
    d_gt = np.linalg.norm(np.diff(gt[:, :3, 3], axis=0), axis=1)
    d_shown = np.linalg.norm(np.diff(shown2[:, :3, 3], axis=0), axis=1)
    assert np.allclose(d_shown / d_gt, d_shown[0] / d_gt[0])  # one scale for the whole GT


def test_ladder_rungs_cross_the_line_horizontally():
    poses = drive(30, turn=0.0)
    pts, edges = ladder(poses[:, :3, 3], world_up(poses), tick=0.8, spacing=5.0)
    n = 30
    line, rungs = edges[:n - 1], edges[n - 1:]
    assert np.array_equal(line, np.column_stack([np.arange(n - 1), np.arange(1, n)]))
    assert len(rungs) == 6  # at 0, 5, ..., 25 m
    v = pts[rungs[:, 1]] - pts[rungs[:, 0]]
    assert np.allclose(np.linalg.norm(v, axis=1), 0.8)
    assert np.allclose(v[:, 1:], 0)  # across the +z path, level (up is -y)


def test_grid_lies_under_the_path_with_power_of_ten_cells():
    poses = drive(61, turn=0.0)  # 60 m
    pts, edges, cell = ground_grid(poses, below=1.5)
    assert cell == 10.0 and grid_spacing(6.0) == 1.0 and grid_spacing(600.0) == 100.0
    assert np.allclose(pts[:, 1], 1.5)  # y is down: 1.5 under the cameras
    xs, zs = pts[:, 0], pts[:, 2]
    assert xs.min() < 0 < xs.max() and zs.min() < 0 and zs.max() > 60  # the whole path over it
    assert len(edges) == len(pts) // 2


# ------------------------------------------------------------------ the view
def test_follow_view_is_above_and_behind_the_camera_and_looks_ahead():
    poses = drive(40)
    view = follow_view(poses)
    cam = poses[-1]
    rel = (view["eye"] - cam[:3, 3]) @ cam[:3, :3]  # the eye in the current camera's frame
    assert rel[2] < 0 and rel[1] < 0  # behind (z) and above (y down)
    assert ((view["lookat"] - cam[:3, 3]) @ cam[:3, :3])[2] > 0  # looks ahead of it
    assert np.allclose(view["up"], [0, -1, 0])
    px = project(view, np.stack([view["lookat"], cam[:3, 3], cam[:3, 3] + [0, -1.0, 0]]))
    assert np.allclose(px[0, :2], 0, atol=1e-9) and px[1, 2] > 0  # look-at point centred, camera in front
    assert px[2, 1] < px[1, 1]  # up in the world is up in the picture
    # it follows: a later camera moves the eye along
    later = follow_view(drive(60))
    assert np.linalg.norm(later["eye"] - view["eye"]) > 10


def test_overview_shows_the_whole_path_from_above_and_behind():
    poses = drive(80, turn=0.02)
    view = overview(poses)
    pos = poses[:, :3, 3]
    px = project(view, pos, f=1.0)
    assert (px[:, 2] > 0).all()
    half = np.tan(np.radians(30))  # the viewer's 60 deg field of view, vertically
    assert (np.abs(px[:, 1]) < half).all() and (np.abs(px[:, 0]) < 1.6 * half).all()
    up = world_up(poses)
    assert np.dot(view["eye"] - pos.mean(axis=0), up) > 0  # above
    heading = pos[-1] - pos[0]
    assert np.dot(view["eye"] - pos[0], heading) < 0  # behind the start


# ------------------------------------------------------------------ colours
def test_point_colours_are_the_image_pixels_they_came_from():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(60, 160, 3), dtype=np.uint8)
    p = np.column_stack([rng.integers(0, 160, 40), rng.integers(0, 60, 40)]).astype(float)
    _, cols = pair_points(p, np.full(40, 5.0), 1.0, K, np.eye(4), image)
    u, v = p[:, 0].astype(int), p[:, 1].astype(int)
    assert np.allclose(cols, image[v, u] / 255.0)


# ------------------------------------------------------------------ open3d, headless
SCENE_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from test_viewer_scene import drive, K, SIZE
    from vo_app.viewer.xvfb import virtual_display
    with virtual_display(800, 600):
        import open3d as o3d
        from vo_app.viewer import scene
        from vo_app.viewer.capture import capture_png
        from vo_app.viewer.live import LiveScene
        from vo_app.viewer.view_geometry import overview, view_extrinsic
        vis = o3d.visualization.Visualizer()
        assert vis.create_window(width=480, height=300, visible=False)
        scene.style(vis)
        gt = drive(40)
        est = gt[:30].copy()
        est[:, :3, 3] *= 0.5
        pts = np.random.default_rng(0).uniform([-8, -3, 2], [8, 1, 25], (500, 3)).astype(np.float32)
        cols = np.random.default_rng(1).integers(0, 256, (500, 3), dtype=np.uint8)
        live = LiveScene(vis, K, SIZE, gt_poses=gt)
        live.apply({"poses": est[:10], "points": pts, "colors": cols})
        live.apply({"poses": est[10:], "indices": np.arange(10, 30)})
        live.final = True
        live.redraw()
        g = live.geometry()
        out = {name: {"points": np.asarray(v.points).tolist(),
                      "lines": np.asarray(v.lines).tolist() if hasattr(v, "lines") else None,
                      "colors": np.asarray(v.colors).tolist()} for name, v in g.items()}
        out["extrinsic"] = vis.get_view_control().convert_to_pinhole_camera_parameters().extrinsic.tolist()
        out["expected_extrinsic"] = view_extrinsic(overview(est)).tolist()
        out["colors_in"] = cols.tolist()
        out["gt_color"], out["cam_color"] = scene.GT_COLOR, scene.PATH_FRUSTUM_COLOR
        _, rgb = capture_png(vis, sys.argv[2])
        vis.destroy_window()

        def pixels(img, color):
            return int((np.abs(img.astype(float) - np.array(color) * 255).sum(axis=2) < 60).sum())

        out["gt_pixels"] = pixels(rgb, scene.GT_COLOR)
        # following the camera at the end of a 3 km drive: the camera and its path stay in the picture
        vis = o3d.visualization.Visualizer()
        assert vis.create_window(width=480, height=300, visible=False)
        scene.style(vis)
        long = LiveScene(vis, K, SIZE)
        long.apply({"poses": drive(3000, turn=0.0)})
        long.redraw()
        _, rgb = capture_png(vis, sys.argv[2])
        vis.destroy_window()
        out["long_frustum_pixels"] = pixels(rgb, scene.FRUSTUM_COLOR)
        out["long_path_pixels"] = pixels(rgb, scene.TRAJ_COLOR)
    print(json.dumps(out))
""")


@needs_render
def test_live_scene_geometry_and_view_in_open3d(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCENE_SCRIPT, str(REPO / "tests"), str(tmp_path / "s.png")],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    cams = out["cameras"]
    assert len(cams["lines"]) % 8 == 0 and len(cams["lines"]) >= 8 * 3  # several frustums along the path
    assert np.allclose(cams["colors"], out["cam_color"])
    gtl = out["ground_truth"]
    assert len(gtl["points"]) >= 40 and np.allclose(gtl["colors"], out["gt_color"])
    assert np.allclose(gtl["points"][0], [0, 0, 0])  # anchored at the estimate's first pose
    assert np.allclose(gtl["points"][29], np.asarray(out["trajectory"]["points"])[29], atol=1e-9)  # scale 0.5
    assert np.allclose(np.asarray(out["cloud"]["colors"]), np.asarray(out["colors_in"]) / 255.0, atol=1e-6)
    assert np.allclose(out["extrinsic"], out["expected_extrinsic"], atol=1e-6)
    assert out["gt_pixels"] > 20  # the green line is in the picture
    assert out["long_frustum_pixels"] > 50 and out["long_path_pixels"] > 50  # not clipped, not a giant frustum


def test_overview_of_a_standing_camera_looks_at_it_from_behind():
    poses = np.tile(np.eye(4), (5, 1, 1))
    view = overview(poses)
    assert np.isfinite(view["eye"]).all()
    assert view["eye"][2] < 0 and view["eye"][1] < 0  # behind (z) and above (y down) the camera
    px = project(view, poses[:, :3, 3], f=1.0)
    assert (px[:, 2] > 0).all() and (np.abs(px[:, :2]) < np.tan(np.radians(30))).all()
