"""Tests of the synthetic sequence renderer (vo_app.synth) and the vo-synth CLI."""
from __future__ import annotations

import json
import struct

import cv2
import numpy as np
import pytest

from vo_app.errors import UserError
from vo_app.synth import (GROUND_Y, MOTIONS, compute_flow, default_intrinsics, ensure_demo_sequence, make_scene,
                          make_trajectory, pixel_rays, render_frame, write_sequence)
from vo_app.io.flo import read_flo
from vo_app.io.rotations import rotation_to_quat as rotation_to_quaternion
from vo_app.synth.layout import scene_length

W, H = 128, 48


@pytest.fixture(scope="module")
def scene():
    return make_scene(0, "forward", length=60.0)


@pytest.fixture(scope="module")
def intr():
    return default_intrinsics(W, H)


@pytest.fixture(scope="module")
def forward_frames(scene, intr):
    poses, _ = make_trajectory("forward", 6, seed=0)
    return poses, [render_frame(scene, intr, p, return_ids=True) for p in poses]


def _rot_deg(R):
    return np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))


def _bilinear(img, u, v):
    """Float64 bilinear lookup of ``img`` at points (u, v) inside the pixel-centre grid."""
    h, w = img.shape
    u0 = np.clip(np.floor(u).astype(int), 0, w - 2)
    v0 = np.clip(np.floor(v).astype(int), 0, h - 2)
    fu, fv = u - u0, v - v0
    top = img[v0, u0] * (1 - fu) + img[v0, u0 + 1] * fu
    bot = img[v0 + 1, u0] * (1 - fu) + img[v0 + 1, u0 + 1] * fu
    return top * (1 - fv) + bot * fv


# ---------------------------------------------------------------- intrinsics and motion

def test_default_intrinsics_kitti_like():
    k = default_intrinsics(416, 128)
    assert k.fx == k.fy == pytest.approx(0.58 * 416)
    assert (k.cx, k.cy) == (207.5, 63.5)
    assert default_intrinsics(100, 50, focal_ratio=1.0).fx == 100.0


@pytest.mark.parametrize("kind", MOTIONS)
def test_trajectory_is_deterministic_and_rigid(kind):
    p1, t1 = make_trajectory(kind, 30, seed=3)
    p2, t2 = make_trajectory(kind, 30, seed=3)
    assert p1.shape == (30, 4, 4) and p1.dtype == np.float64
    assert np.array_equal(p1, p2) and np.array_equal(t1, t2)
    np.testing.assert_allclose(t1, np.arange(30) / 10.0)
    R = p1[:, :3, :3]
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    np.testing.assert_array_equal(p1[:, 3], np.broadcast_to([0, 0, 0, 1.0], (30, 4)))
    if kind != "static":
        assert not np.array_equal(p1, make_trajectory(kind, 30, seed=4)[0])


def test_static_and_rotation_profiles():
    ps, _ = make_trajectory("static", 10)
    assert all(np.array_equal(p, ps[0]) for p in ps)
    pr, _ = make_trajectory("rotation", 40, seed=1)
    assert np.abs(pr[:, :3, 3] - pr[0, :3, 3]).max() == 0.0  # rotation about a fixed centre
    rel = [_rot_deg(a[:3, :3].T @ b[:3, :3]) for a, b in zip(pr[:-1], pr[1:])]
    assert 0.3 < np.mean(rel) < 3.0


def test_forward_profile_drives_along_z():
    p, _ = make_trajectory("forward", 100, seed=0)
    steps = np.diff(p[:, :3, 3], axis=0)
    speed = np.linalg.norm(steps, axis=1)
    assert speed.min() > 0.75 and speed.max() < 1.25
    assert np.all(steps[:, 2] > 0.95 * speed)  # mostly along +z
    assert np.abs(p[:, 0, 3]).max() < 1.5 and np.abs(p[:, 1, 3]).max() < 0.05  # stays in the lane
    yaw = np.degrees(np.arctan2(p[:, 0, 2], p[:, 2, 2]))
    assert np.abs(yaw[10:] - yaw[:-10]).max() < 5.0  # gentle curves
    assert np.ptp(yaw) > 0.5  # ... but not a straight line


def test_handheld_profile_wobbles_slowly():
    p, _ = make_trajectory("handheld", 60, seed=2)
    rel = [np.linalg.inv(a) @ b for a, b in zip(p[:-1], p[1:])]
    rot = np.array([_rot_deg(r[:3, :3]) for r in rel])
    trans = np.array([np.linalg.norm(r[:3, 3]) for r in rel])
    assert 0.3 < rot.mean() < 2.5 and rot.max() < 4.0
    assert 0.08 < trans.mean() < 0.25
    assert np.ptp(p[:, 0, 3]) > 0.01 and np.ptp(p[:, 1, 3]) > 0.01  # sideways and vertical wobble


# ---------------------------------------------------------------- rendering

def test_render_is_deterministic_and_seed_dependent(intr):
    pose = make_trajectory("forward", 3, seed=0)[0][2]
    a_rgb, a_d = render_frame(make_scene(5, "static"), intr, pose)
    b_rgb, b_d = render_frame(make_scene(5, "static"), intr, pose)
    assert a_rgb.dtype == np.float32 and a_rgb.shape == (H, W, 3) and a_d.shape == (H, W)
    assert np.array_equal(a_rgb, b_rgb) and np.array_equal(a_d, b_d)
    c_rgb, _ = render_frame(make_scene(6, "static"), intr, pose)
    assert np.abs(c_rgb - a_rgb).mean() > 0.05


def test_images_are_textured_and_mostly_not_sky(forward_frames):
    _, frames = forward_frames
    for rgb, depth, _ in frames:
        assert 0.0 <= rgb.min() and rgb.max() <= 1.0
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        assert gray.std() > 0.08
        grad = np.abs(np.diff(gray, axis=1)).mean() + np.abs(np.diff(gray, axis=0)).mean()
        assert grad > 0.02  # fine-scale texture, not just smooth shading
        assert (depth == 0).mean() < 0.25  # sky is a minor part of the view
        assert (depth[H // 2 + 2:] > 0).all()  # below the horizon everything is a surface


def test_depth_points_lie_on_their_quads(scene, intr, forward_frames):
    poses, frames = forward_frames
    rays = pixel_rays(intr).astype(np.float64)
    for pose, (_, depth, ids) in zip(poses[::2], frames[::2]):
        hit = ids >= 0
        assert np.array_equal(hit, depth > 0)
        pts = (rays * depth[..., None].astype(np.float64))[hit] @ pose[:3, :3].T + pose[:3, 3]
        q = ids[hit]
        rel = pts - scene.p0[q]
        off_plane = np.abs(np.einsum("ij,ij->i", rel, scene.normal[q]))
        assert off_plane.max() < 1e-5 * depth.max() + 1e-4
        a = np.einsum("ij,ij->i", rel, scene.e1[q]) / scene.size[q, 0] ** 2
        b = np.einsum("ij,ij->i", rel, scene.e2[q]) / scene.size[q, 1] ** 2
        assert a.min() > -1e-4 and a.max() < 1 + 1e-4 and b.min() > -1e-4 and b.max() < 1 + 1e-4
    # an unrotated camera at the origin sees the ground (y = GROUND_Y) in the bottom-centre pixel
    rgb, depth = render_frame(scene, intr, np.eye(4))
    v = H - 1
    assert depth[v, W // 2] == pytest.approx(GROUND_Y * intr.fy / (v - intr.cy), rel=1e-5)


def test_mipmapping_avoids_aliasing(intr):
    """A render matches a 4x supersampled one (box-filtered down) much better than without mip-mapping."""
    sc = make_scene(1, "static")
    pose = np.eye(4)
    pose[:3, 3] = [0.0, 0.0, 20.0]
    lo, _ = render_frame(sc, intr, pose)
    hi, _ = render_frame(sc, intr.scaled(4 * W, 4 * H), pose)
    ref = cv2.resize(hi, (W, H), interpolation=cv2.INTER_AREA)
    diff = np.abs(lo - ref).mean()
    assert diff < 0.25 * np.abs(ref - ref.mean((0, 1))).mean()
    sample = sc.atlas.sample
    sc.atlas.sample = lambda q, s, t, lod: sample(q, s, t, np.zeros_like(lod))  # always the finest level
    base_only, _ = render_frame(sc, intr, pose)
    assert np.abs(base_only - ref).mean() > 1.6 * diff


# ---------------------------------------------------------------- flow

def test_flow_equals_independent_reprojection(intr, forward_frames):
    poses, frames = forward_frames
    (_, d0, _), (_, d1, _) = frames[0], frames[1]
    flow, valid = compute_flow(d0, poses[0], poses[1], intr, d1)
    assert flow.dtype == np.float32 and flow.shape == (H, W, 2)
    v, u = np.nonzero(d0 > 0)
    z = d0[v, u].astype(np.float64)
    cam = np.stack([(u - intr.cx) / intr.fx * z, (v - intr.cy) / intr.fy * z, z], axis=1)
    world = cam @ poses[0][:3, :3].T + poses[0][:3, 3]
    w2c = np.linalg.inv(poses[1])
    rvec, _ = cv2.Rodrigues(w2c[:3, :3])
    proj, _ = cv2.projectPoints(world, rvec, w2c[:3, 3], intr.K, None)
    ref = proj.reshape(-1, 2) - np.stack([u, v], axis=1)
    front = (world @ w2c[:3, :3].T + w2c[:3, 3])[:, 2] > 0.1
    np.testing.assert_allclose(flow[v, u][front], ref[front], atol=2e-3)
    # sky: rotation-only flow (a direction at infinity)
    sv, su = np.nonzero(d0 == 0)
    if len(sv):
        d = np.stack([(su - intr.cx) / intr.fx, (sv - intr.cy) / intr.fy, np.ones(len(su))], axis=1)
        dj = d @ (w2c[:3, :3] @ poses[0][:3, :3]).T
        ref_sky = np.stack([intr.fx * dj[:, 0] / dj[:, 2] + intr.cx - su,
                            intr.fy * dj[:, 1] / dj[:, 2] + intr.cy - sv], axis=1)
        np.testing.assert_allclose(flow[sv, su], ref_sky, atol=2e-3)


def test_flow_warp_reproduces_previous_frame(intr, forward_frames):
    poses, frames = forward_frames
    uu, vv = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    for i in range(0, 4, 2):
        (a, da, _), (b, db, _) = frames[i], frames[i + 1]
        flow, valid = compute_flow(da, poses[i], poses[i + 1], intr, db)
        assert 0.4 < valid.mean() < 0.995  # some pixels leave the image or get occluded
        warped = cv2.remap(b, uu + flow[..., 0], vv + flow[..., 1], cv2.INTER_LINEAR)
        err = np.abs(warped - a).mean(axis=-1)
        no_motion = np.abs(b - a).mean(axis=-1)
        assert err[valid].mean() < 0.035
        assert err[valid].mean() < 0.25 * no_motion[valid].mean()
        assert np.median(err[valid]) < 0.02


def test_flow_target_depth_consistency(intr, forward_frames):
    """Where source and target lie on the same quad, the re-projected depth equals frame j's depth."""
    poses, frames = forward_frames
    (_, d0, id0), (_, d1, id1) = frames[2], frames[3]
    flow, valid = compute_flow(d0, poses[2], poses[3], intr, d1)
    vv, uu = np.nonzero(valid & (d0 > 0))
    tu, tv = uu + flow[vv, uu, 0], vv + flow[vv, uu, 1]
    u0, v0 = np.floor(tu).astype(int), np.floor(tv).astype(int)
    u1, v1 = np.minimum(u0 + 1, W - 1), np.minimum(v0 + 1, H - 1)
    src = id0[vv, uu]
    same = (id1[v0, u0] == src) & (id1[v0, u1] == src) & (id1[v1, u0] == src) & (id1[v1, u1] == src)
    assert same.mean() > 0.5
    z = d0[vv, uu].astype(np.float64)
    cam = np.stack([(uu - intr.cx) / intr.fx * z, (vv - intr.cy) / intr.fy * z, z], axis=1)
    rel = np.linalg.solve(poses[3], poses[2])
    zj = (cam @ rel[:3, :3].T + rel[:3, 3])[:, 2]
    inv = np.where(d1 > 0, 1.0 / np.maximum(d1, 1e-9), 0.0)
    inv_t = _bilinear(inv, tu, tv)  # inverse depth is affine in the image on a plane
    np.testing.assert_allclose(inv_t[same], 1.0 / zj[same], rtol=2e-3)


def test_static_flow_is_zero_and_valid(scene, intr):
    pose = make_trajectory("static", 2)[0][0]
    _, d = render_frame(scene, intr, pose)
    flow, valid = compute_flow(d, pose, pose, intr, d)
    assert np.abs(flow).max() < 1e-3 and valid.all()


# ---------------------------------------------------------------- layouts

def _numbers(line):
    return [float(x) for x in line.split()]


def test_kitti_layout_files(tmp_path, intr):
    out = write_sequence(tmp_path / "k", layout="kitti", n_frames=5, width=W, height=H, motion="forward", seed=0)
    assert (out / "synth.json").exists() and not (out / ".synth-in-progress").exists()
    params = json.loads((out / "synth.json").read_text())
    assert params["n_frames"] == 5 and params["layout"] == "kitti" and params["width"] == W
    calib = dict(line.split(":", 1) for line in (out / "calib.txt").read_text().splitlines())
    assert sorted(calib) == ["P0", "P1", "P2", "P3"]
    for row in calib.values():
        P = np.array(_numbers(row)).reshape(3, 4)
        np.testing.assert_allclose(P[:, :3], intr.K, rtol=1e-9)
        assert np.all(P[:, 3] == 0)
    poses = np.array([_numbers(r) for r in (out / "poses.txt").read_text().splitlines()])
    gt, times = make_trajectory("forward", 5, seed=0)
    assert poses.shape == (5, 12)
    np.testing.assert_array_equal(poses.reshape(5, 3, 4), gt[:, :3])  # io/trajectory's writer: exact float64
    np.testing.assert_allclose(np.loadtxt(out / "times.txt"), times, atol=1e-6)
    assert len(list((out / "image_2").glob("*.png"))) == 5 and len(list((out / "depth").glob("*.png"))) == 5
    assert not list(out.rglob(".*tmp"))
    # image colours (RGB written as BGR) and depth encoding round-trip
    scene = make_scene(0, "forward", length=scene_length("forward", gt))
    rgb, depth = render_frame(scene, intr, gt[1])
    img = cv2.imread(str(out / "image_2" / "000001.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert np.abs(img.astype(np.float32) / 255 - rgb).max() <= 0.5 / 255 + 1e-6
    dpng = cv2.imread(str(out / "depth" / "000001.png"), cv2.IMREAD_UNCHANGED)
    assert dpng.dtype == np.uint16
    np.testing.assert_array_equal(dpng, np.minimum(np.rint(depth.astype(np.float64) * 256), 65535).astype(np.uint16))
    # flow: N-1 Middlebury files with masks
    flos = sorted((out / "flow").glob("*.flo"))
    assert [f.name for f in flos] == [f"{i:06d}.flo" for i in range(4)]
    raw = flos[0].read_bytes()
    tag, w, h = struct.unpack("<fii", raw[:12])
    assert tag == np.float32(202021.25) and (w, h) == (W, H) and len(raw) == 12 + W * H * 8
    _, depth0 = render_frame(scene, intr, gt[0])
    ref, ref_valid = compute_flow(depth0, gt[0], gt[1], intr, depth)
    np.testing.assert_array_equal(read_flo(flos[0]), ref)
    mask = cv2.imread(str(out / "flow" / "000000_valid.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(mask)) <= {0, 255}
    np.testing.assert_array_equal(mask == 255, ref_valid)


def test_tum_and_both_layouts(tmp_path):
    out = write_sequence(tmp_path / "b", layout="both", n_frames=4, width=96, height=32, motion="handheld", seed=1,
                         write_flow=False)
    assert (out / "synth.json").exists() and (out / "kitti" / "poses.txt").exists()
    assert not (out / "kitti" / "flow").exists()
    tum = out / "tum"
    for name, folder in (("rgb.txt", "rgb"), ("depth.txt", "depth")):
        lines = (tum / name).read_text().splitlines()
        assert lines[0].startswith("#")
        rows = [ln.split() for ln in lines if not ln.startswith("#")]
        assert len(rows) == 4 and rows[0] == ["1.000000", f"{folder}/1.000000.png"]
        assert all((tum / r[1]).exists() for r in rows)
    gt_rows = [_numbers(ln) for ln in (tum / "groundtruth.txt").read_text().splitlines() if not ln.startswith("#")]
    assert len(gt_rows) == 4 and all(len(r) == 8 for r in gt_rows)
    poses, times = make_trajectory("handheld", 4, seed=1)
    # the ground truth's stamps are rgb.txt's, as text: the association needs no interpolation
    gt_stamps = [ln.split()[0] for ln in (tum / "groundtruth.txt").read_text().splitlines() if not ln.startswith("#")]
    assert gt_stamps == [ln.split()[0] for ln in (tum / "rgb.txt").read_text().splitlines() if not ln.startswith("#")]
    for r, p, t in zip(gt_rows, poses, times):
        assert r[0] == pytest.approx(t + 1.0)
        np.testing.assert_array_equal(r[1:4], p[:3, 3])  # io/trajectory's writer: exact float64
        qx, qy, qz, qw = r[4:]
        q = np.array([qx, qy, qz])
        Rq = (qw * qw - q @ q) * np.eye(3) + 2 * np.outer(q, q) + 2 * qw * np.array(
            [[0, -qz, qy], [qz, 0, -qx], [-qy, qx, 0]])
        np.testing.assert_allclose(Rq, p[:3, :3], atol=1e-8)
    fx, fy, cx, cy = _numbers((tum / "intrinsics.txt").read_text())
    assert (fx, cx, cy) == (pytest.approx(0.58 * 96), 47.5, 15.5)
    d = cv2.imread(str(tum / "depth" / "1.000000.png"), cv2.IMREAD_UNCHANGED)
    k = cv2.imread(str(out / "kitti" / "depth" / "000000.png"), cv2.IMREAD_UNCHANGED).astype(np.float64) / 256
    ok = (d > 0) & (k > 1)
    assert ok.mean() > 0.3
    np.testing.assert_allclose(d[ok] / 5000.0, k[ok], atol=2.5e-3)


def test_rewrite_is_deterministic_and_removes_stale_frames(tmp_path):
    out = tmp_path / "s"
    write_sequence(out, n_frames=5, width=64, height=32, motion="rotation", seed=2)
    first = {p.name: p.read_bytes() for p in (out / "image_2").iterdir()}
    write_sequence(out, n_frames=3, width=64, height=32, motion="rotation", seed=2)
    second = {p.name: p.read_bytes() for p in (out / "image_2").iterdir()}
    assert sorted(second) == ["000000.png", "000001.png", "000002.png"]
    assert all(second[k] == first[k] for k in second)
    write_sequence(out, n_frames=3, width=64, height=32, motion="rotation", seed=3)
    assert (out / "image_2" / "000000.png").read_bytes() != first["000000.png"]


def test_write_sequence_rejects_bad_input(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not empty"):
        write_sequence(foreign, n_frames=2, width=32, height=16)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(UserError, match="frame"):
        write_sequence(tmp_path / "x", n_frames=1)
    with pytest.raises(UserError, match="layout"):
        write_sequence(tmp_path / "x", layout="euroc")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write"):
        write_sequence(blocker / "sub", n_frames=2, width=32, height=16)


def test_ensure_demo_sequence_renders_once(tmp_path):
    small = dict(n_frames=3, width=48, height=16)
    p1 = ensure_demo_sequence(tmp_path, **small)
    marker = p1 / "synth.json"
    stamp = marker.stat().st_mtime_ns
    assert json.loads(marker.read_text())["motion"] == "forward"
    assert len(list((p1 / "image_2").glob("*.png"))) == 3
    p2 = ensure_demo_sequence(tmp_path, **small)
    assert p2 == p1 and marker.stat().st_mtime_ns == stamp  # reused, not re-rendered
    params = json.loads(marker.read_text())
    params["seed"] = 99  # parameters no longer match -> rendered again
    marker.write_text(json.dumps(params))
    p3 = ensure_demo_sequence(tmp_path, **small)
    assert p3 == p1 and json.loads((p3 / "synth.json").read_text())["seed"] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_quaternion_conversion_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(20):
        R, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        R *= np.sign(np.linalg.det(R))
        q = rotation_to_quaternion(R)
        assert q[3] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
        back, _ = cv2.Rodrigues(cv2.Rodrigues(R)[0])
        x, y, z, w = q
        Rq = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                       [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                       [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        np.testing.assert_allclose(Rq, back, atol=1e-9)


# ---------------------------------------------------------------- CLI

def test_cli(tmp_path):
    from click.testing import CliRunner

    from vo_app.cli.synth import main

    runner = CliRunner()
    res = runner.invoke(main, [str(tmp_path / "o"), "--frames", "3", "--size", "64x32", "--motion", "static",
                               "--layout", "tum", "--no-flow"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "rgb.txt").exists() and not (tmp_path / "o" / "flow").exists()
    for args, word in ((["--size", "abc"], "--size"), (["--frames", "1"], "--frames"), (["--size", "8x8"], "--size")):
        res = runner.invoke(main, [str(tmp_path / "e"), *args])
        assert res.exit_code == 2
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vo-synth: error:") and word in lines[0]
    assert not (tmp_path / "e").exists()


def test_road_objects_add_traffic_beside_the_camera_line_and_leave_the_rest():
    plain = make_scene(3, "forward")
    busy = make_scene(3, "forward", road_objects=True)
    assert plain.p0.shape[0] == make_scene(3, "forward", road_objects=False).p0.shape[0]
    q = plain.p0.shape[0]
    added = busy.p0.shape[0] - q
    assert added >= 5 * 6  # tens of boxes along 200 m of street
    # the plain scene's quads are all still there, unchanged (the new boxes come before the end walls)
    same = np.concatenate([busy.p0[:q - 2], busy.p0[-2:]])
    np.testing.assert_array_equal(same, plain.p0)
    new = busy.p0[q - 2:-2]
    corners = np.concatenate([new, new + busy.e1[q - 2:-2], new + busy.e2[q - 2:-2],
                              new + busy.e1[q - 2:-2] + busy.e2[q - 2:-2]])
    assert np.abs(corners[:, 0]).min() >= 0.75  # never on the camera's line x = 0
    assert np.all(corners[:, 1] <= GROUND_Y + 1e-9)  # standing on the road


def test_junction_ends_the_street_at_a_cross_street_and_leaves_other_scenes_alone():
    plain = make_scene(3, "forward", length=40.0)
    np.testing.assert_array_equal(make_scene(3, "forward", length=40.0, junction=0.0).p0, plain.p0)
    t = make_scene(3, "forward", length=40.0, junction=14.0)
    far = 40.0 + 30.0
    corners = np.concatenate([t.p0, t.p0 + t.e1, t.p0 + t.e2, t.p0 + t.e1 + t.e2])
    # no part of the street's own buildings or kerb objects is in the cross street (z in (56, 70))
    inside = (corners[:, 2] > far - 14.0 + 1e-6) & (corners[:, 2] < far - 1e-6) & (corners[:, 1] < GROUND_Y - 1e-6)
    assert not inside.any()
    # the buildings across it face the camera (-z) and span far wider than the street
    across = (t.p0[:, 2] >= far - 1e-6) & (t.normal[:, 2] < -0.99)
    assert across.sum() >= 4 and corners[:, 0].min() <= -59.0 and corners[:, 0].max() >= 59.0
    with pytest.raises(ValueError, match="junction"):
        make_scene(3, "forward", length=40.0, junction=-1.0)
