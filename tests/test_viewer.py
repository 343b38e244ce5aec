"""Map accumulation, per-frame events, map.ply, the viewer's one-line degradation, headless screenshots."""
from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vo_app.viewer.availability import display_problem, explain_import_error, open3d_problem
from vo_app.viewer.client import LiveViewer
from vo_app.pipeline.events import frame_event, pair_points
from vo_app.viewer.ply import _ply_bytes, write_ply
from vo_app.viewer.recorder import MapRecorder, fan_out
from vo_app.viewer.voxel_map import VoxelMap

REPO = Path(__file__).resolve().parents[1]
HAVE_XVFB = shutil.which("Xvfb") is not None
O3D_PROBLEM = open3d_problem()
needs_render = pytest.mark.skipif(not HAVE_XVFB or O3D_PROBLEM is not None,
                                  reason=f"needs Xvfb and open3d ({O3D_PROBLEM or 'no Xvfb'})")
BACKGROUND = np.array([0.08, 0.08, 0.1]) * 255
GRID = np.array([0.22, 0.22, 0.26]) * 255  # vo_app.viewer.scene.GRID_COLOR (scene imports open3d)


def run_vo(seq: Path, out: Path, *extra, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vo_app.cli.run", str(seq), "--out", str(out), "--config", "demo",
                           "--quiet", *map(str, extra)], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env=env)


@pytest.fixture(scope="module")
def seq(tmp_path_factory) -> Path:
    from vo_app.synth import write_sequence

    return write_sequence(tmp_path_factory.mktemp("viewer") / "seq", layout="kitti", n_frames=12, width=208,
                          height=64, motion="forward", seed=0, write_flow=False)


@pytest.fixture(scope="module")
def ply_run(seq, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plyrun") / "out"
    proc = run_vo(seq, out, "--save-ply")
    assert proc.returncode == 0, proc.stderr
    return out


def no_display_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


# ------------------------------------------------------------------ voxel map
def test_voxel_map_keeps_one_point_per_voxel_first_wins():
    m = VoxelMap(voxel_size=1.0)
    pts = np.array([[0.1, 0.1, 0.1], [0.9, 0.9, 0.9], [1.5, 0.2, 0.2], [-0.5, 0, 0]], np.float32)
    cols = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
    assert m.add(pts, cols) == 3
    assert len(m) == 3
    assert np.allclose(m.colors[0], [1, 0, 0])  # the first point of the shared voxel stays
    assert m.add(pts + 0.01, cols) == 0  # same voxels again: nothing new
    assert m.add(np.array([[5, 5, 5], [np.nan, 0, 0]], np.float32)) == 1  # NaN dropped, grey colour
    assert np.allclose(m.colors[-1], 0.7)


def test_voxel_map_stays_under_its_cap_and_sizes_its_voxel():
    rng = np.random.default_rng(0)
    m = VoxelMap(max_points=5000)
    pts = rng.normal(scale=10.0, size=(20000, 3)) + [0, 0, 50]
    m.add(pts[:1000], origin=np.zeros(3))
    assert m.voxel_size == pytest.approx(0.01 * np.median(np.linalg.norm(pts[:1000], axis=1)), rel=1e-5)
    m.add(pts[1000:], origin=np.zeros(3))
    assert m.voxel_size > 0.01 * np.median(np.linalg.norm(pts[:1000], axis=1))  # it grew past the cap
    assert 0 < len(m) <= 5000
    keys = np.floor(m.points / m.voxel_size)
    assert len(np.unique(keys, axis=0)) == len(m)


# ------------------------------------------------------------------ events
def test_pair_points_back_project_to_known_world_points():
    rng = np.random.default_rng(1)
    K = np.array([[100.0, 0, 64], [0, 100.0, 32], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # 90 deg yaw
    pose[:3, 3] = [1, 2, 3]
    X_cam = np.column_stack([rng.uniform(-2, 2, 50), rng.uniform(-1, 1, 50), rng.uniform(4, 20, 50)])
    p = X_cam[:, :2] / X_cam[:, 2:] * 100 + [64, 32]
    scale = 2.0
    image = rng.uniform(size=(64, 128)).astype(np.float32)
    world, cols = pair_points(p, X_cam[:, 2] / scale, scale, K, pose, image)
    assert np.allclose(world, X_cam @ pose[:3, :3].T + pose[:3, 3], atol=1e-4)
    assert cols.shape == (50, 3) and np.allclose(cols[:, 0], cols[:, 1])  # gray -> equal channels


def test_frame_event_without_geometry_has_no_points():
    ev = frame_event(0, np.eye(4))
    assert ev["index"] == 0 and ev["points_world"] is None and ev["colors"] is None
    assert ev["pose"].shape == (4, 4)


def test_on_frame_events_of_a_run(seq, tmp_path):
    from vo_app.io import open_sequence
    from vo_app.pipeline.config import load_config
    from vo_app.pipeline.odometry import run_odometry

    events = []
    rec = MapRecorder()
    s = open_sequence(seq)
    run_odometry(s, load_config("demo"), tmp_path, on_frame=fan_out([events.append, rec]))
    assert [e["index"] for e in events] == list(range(12))
    assert events[0]["points_world"] is None
    with_pts = [e for e in events if e["points_world"] is not None]
    assert len(with_pts) >= 9
    for e in with_pts:
        assert e["points_world"].shape == e["colors"].shape and np.isfinite(e["points_world"]).all()
        assert e["colors"].min() >= 0 and e["colors"].max() <= 1
    # the points lie in front of the camera that saw them (forward motion along +z)
    e = with_pts[0]
    assert np.median(e["points_world"][:, 2] - e["pose"][2, 3]) > 0
    assert len(rec.map) > 1000
    from vo_app.io.trajectory import read_kitti

    assert np.allclose(read_kitti(tmp_path / "trajectory_kitti.txt")[-1], events[-1]["pose"])


# ------------------------------------------------------------------ map.ply
def test_save_ply_writes_a_readable_map(ply_run):
    data = (ply_run / "map.ply").read_bytes()
    assert data.startswith(b"ply\n")
    assert not [p for p in ply_run.iterdir() if p.name.startswith(".map.ply")]  # no temp file left
    if O3D_PROBLEM is None:
        import open3d as o3d

        pc = o3d.io.read_point_cloud(str(ply_run / "map.ply"))
        assert len(pc.points) > 1000 and pc.has_colors()


def test_numpy_ply_layout_reads_back(tmp_path):
    pts = np.array([[0, 1, 2], [3, 4, 5.5]], np.float64)
    cols = np.array([[1, 0, 0], [0, 0.5, 1]])
    path = tmp_path / "m.ply"
    path.write_bytes(_ply_bytes(pts, cols))
    header, body = path.read_bytes().split(b"end_header\n")
    assert b"element vertex 2" in header
    rec = np.frombuffer(body, dtype=[("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    assert np.allclose(np.column_stack([rec["x"], rec["y"], rec["z"]]), pts)
    assert rec["g"].tolist() == [0, 128]
    if O3D_PROBLEM is None:
        import open3d as o3d

        assert np.allclose(np.asarray(o3d.io.read_point_cloud(str(path)).points), pts)
        write_ply(tmp_path / "o.ply", pts, cols)
        assert np.allclose(np.asarray(o3d.io.read_point_cloud(str(tmp_path / "o.ply")).points), pts)


# ------------------------------------------------------------------ degradation
def test_missing_libraries_are_named_with_their_package():
    err = OSError("libusb-1.0.so.0: cannot open shared object file: No such file or directory")
    assert explain_import_error(err) == "open3d needs libusb-1.0-0 (apt-get install libusb-1.0-0)"
    assert "libgl1" in explain_import_error(ImportError("libGL.so.1: cannot open shared object file"))
    missing = ModuleNotFoundError("No module named 'open3d'", name="open3d")
    assert explain_import_error(missing).startswith("open3d is not installed")
    assert display_problem({}) == "no display: set DISPLAY or run under xvfb-run"
    assert display_problem({"DISPLAY": ":31999"}).startswith("no X server answers on DISPLAY=:31999")
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None


@pytest.mark.skipif(not HAVE_XVFB, reason="no Xvfb")
def test_a_running_x_server_is_a_usable_display():
    from vo_app.viewer.xvfb import virtual_display

    with virtual_display(320, 240) as display:
        assert display_problem({"DISPLAY": display}) is None


def test_viewer_without_display_prints_one_line_and_the_run_goes_on(seq, tmp_path, run_cli, monkeypatch):
    # in-process (the display is looked up in os.environ); the next test runs the real process
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    res = run_cli([seq, "--out", tmp_path / "out", "--config", "demo", "--quiet", "--viewer"])
    assert res.code == 0, res.err
    assert res.err_lines == ["vo-run: viewer disabled: no display: set DISPLAY or run under xvfb-run"]
    assert (tmp_path / "out" / "trajectory_kitti.txt").is_file()


@pytest.mark.skipif(not HAVE_XVFB, reason="no Xvfb")
def test_open3d_missing_a_library_prints_one_line_and_the_run_goes_on(seq, tmp_path):
    from vo_app.viewer.xvfb import virtual_display

    fake = tmp_path / "fake" / "open3d"  # an open3d whose import fails like a wheel without libusb
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise OSError("libusb-1.0.so.0: cannot open shared object file: No such file or directory")\n')
    with virtual_display(320, 240):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake.parent), str(REPO)]))
        proc = run_vo(seq, tmp_path / "out", "--viewer", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["vo-run: viewer disabled: open3d needs libusb-1.0-0 (apt-get install libusb-1.0-0)"]
    assert (tmp_path / "out" / "trajectory_kitti.txt").is_file()


class _FakeProc:
    def __init__(self):
        self.alive = True

    def is_alive(self):
        return self.alive


def _fake_viewer(queue_size=1, max_pending=1000):
    msgs = []
    v = LiveViewer(np.eye(3), (64, 32), on_problem=msgs.append, queue_size=queue_size, max_pending=max_pending)
    v.updates, v.status, v.proc, v.active = queue.Queue(maxsize=queue_size), queue.Queue(), _FakeProc(), True
    return v, msgs


def _event(i, n_points=300):
    pts = np.full((n_points, 3), float(i), np.float32)
    return {"index": i, "pose": np.eye(4), "points_world": pts, "colors": np.ones_like(pts) * 0.5}


def test_full_queue_never_blocks_and_pending_points_are_bounded():
    v, msgs = _fake_viewer(queue_size=1, max_pending=1000)
    for i in range(20):  # nobody reads the queue
        v(_event(i))
    assert v.updates.qsize() == 1 and v.sent == 1
    assert sum(len(p) for p in v._pending_pts) <= 1000 and v.dropped > 0
    assert len(v._pending_poses) == 19  # every pose waits for the next update that fits
    v.updates.get_nowait()
    v(_event(20))
    _, batch = v.updates.get_nowait()
    assert len(batch["poses"]) == 20 and batch["colors"].dtype == np.uint8
    assert msgs == []


def test_viewer_failure_is_reported_once_and_closing_it_keeps_vo_going():
    v, msgs = _fake_viewer()
    v.status.put(("error", "open3d needs libusb-1.0-0 (apt-get install libusb-1.0-0)"))
    for i in range(3):
        v(_event(i))
    assert msgs == ["open3d needs libusb-1.0-0 (apt-get install libusb-1.0-0)"] and not v.active
    w, msgs = _fake_viewer()
    w(_event(0))
    w.proc.alive = False  # the user closed the window
    w(_event(1))
    assert not w.active and msgs == []


# ------------------------------------------------------------------ rendering under Xvfb
def _content_fraction(png: Path) -> float:
    import cv2

    img = cv2.imread(str(png))[:, :, ::-1].astype(float)
    return float((np.abs(img - BACKGROUND).sum(axis=2) > 30).mean())


def _point_pixels(png: Path) -> int:
    """Pixels that are neither background nor the pure trajectory/frustum line colours: grey-ish points."""
    import cv2

    img = cv2.imread(str(png))[:, :, ::-1].astype(float)
    not_bg = np.abs(img - BACKGROUND).sum(axis=2) > 30
    not_grid = np.abs(img - GRID).sum(axis=2) > 30  # the ground grid's dark lines
    greyish = (img.max(axis=2) - img.min(axis=2)) < 40  # synthetic frames are grey; lines are saturated
    return int((not_bg & not_grid & greyish).sum())


@needs_render
def test_vo_view_screenshot_shows_the_point_cloud(ply_run, tmp_path):
    png = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, "-m", "vo_app.cli.view", str(ply_run), "--screenshot", str(png),
                           "--size", "480x300"], capture_output=True, text=True, timeout=120, env=no_display_env())
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"
    with_map = _point_pixels(png)
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("trajectory_kitti.txt", "report.json"):
        shutil.copy(ply_run / name, bare / name)
    png2 = tmp_path / "bare.png"
    proc = subprocess.run([sys.executable, "-m", "vo_app.cli.view", str(bare), "--screenshot", str(png2),
                           "--size", "480x300"], capture_output=True, text=True, timeout=120, env=no_display_env())
    assert proc.returncode == 0, proc.stderr
    assert with_map > 2000 and with_map > 10 * max(_point_pixels(png2), 1)
    assert _content_fraction(png2) > 0  # the trajectory and camera are drawn without a map


@needs_render
def test_live_viewer_under_xvfb_draws_and_the_run_completes(seq, tmp_path):
    from vo_app.viewer.xvfb import virtual_display

    shot = tmp_path / "live.png"
    with virtual_display(800, 600):
        env = dict(os.environ)
        proc = run_vo(seq, tmp_path / "out", "--viewer", "--viewer-close", "--viewer-snapshot", shot, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "viewer disabled" not in proc.stderr
    assert (tmp_path / "out" / "trajectory_kitti.txt").is_file()
    assert shot.is_file() and _point_pixels(shot) > 2000


@needs_render
def test_closing_the_real_viewer_mid_run_does_not_stop_the_caller():
    from vo_app.viewer.xvfb import virtual_display

    problems = []
    with virtual_display(640, 480):
        v = LiveViewer(np.array([[50.0, 0, 32], [0, 50.0, 16], [0, 0, 1]]), (64, 32), on_problem=problems.append,
                       close_at_end=True)
        assert v.start()
        for i in range(5):
            v(_event(i))
        v.proc.terminate()  # what closing the window amounts to, seen from VO
        v.proc.join(10)
        for i in range(5, 10):
            v(_event(i))  # must neither raise nor block
        assert not v.running()
        v.finish(wait=True, timeout=2.0)
    assert problems == []


def test_vo_view_user_errors(tmp_path, run_cli):
    from vo_app.cli.view import main as view_main

    res = run_cli([tmp_path / "nope"], main=view_main)
    assert res.code == 2 and len(res.err_lines) == 1 and "vo-view: error:" in res.err
    res = run_cli([tmp_path], main=view_main)
    assert res.code == 2 and "trajectory_kitti.txt" in res.err
