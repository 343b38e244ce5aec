"""Tests of the indoor room scene and the ``indoor`` handheld motion (vo_app.synth.room, .motion)."""
from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest

from vo_app.synth import MOTIONS, default_intrinsics, make_scene, make_trajectory, render_frame, write_sequence
from vo_app.synth.fileio import depth_to_uint16, rgb_to_uint8
from vo_app.synth.room import CLEARANCE, FLOOR_Y, room_extent, room_layout
from vo_app.synth.scene import SCENE_KINDS

SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def rooms():
    return {s: make_scene(s, "indoor") for s in SEEDS[:3]}


def _walk(seed, n=600):
    return make_trajectory("indoor", n, seed=seed, fps=30.0)[0]


def _quad_distances(points, scene):
    """``[N, Q]`` distances (metres) of points ``[N, 3]`` to every (rectangular) quad of ``scene``."""
    p = points[:, None, :] - scene.p0[None]
    a = np.clip(np.einsum("nqk,qk->nq", p, scene.e1) / (scene.size[:, 0] ** 2), 0.0, 1.0)
    b = np.clip(np.einsum("nqk,qk->nq", p, scene.e2) / (scene.size[:, 1] ** 2), 0.0, 1.0)
    closest = scene.p0[None] + a[..., None] * scene.e1[None] + b[..., None] * scene.e2[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=2)


# ---------------------------------------------------------------- layout and geometry

def test_indoor_is_a_kind_and_a_motion_at_the_end():
    assert "indoor" in SCENE_KINDS
    # the rng stream of a motion is rng_for(seed, 20, MOTIONS.index(kind)): street kinds keep their index
    assert MOTIONS[:4] == ("forward", "handheld", "rotation", "static") and MOTIONS[4] == "indoor"
    with pytest.raises(ValueError):
        make_scene(0, "indoor", length=10.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_room_size_furniture_and_start(seed):
    lay = room_layout(seed)
    lo, hi = room_extent(seed)
    assert 4.0 <= hi[0] - lo[0] <= 7.0 and 5.0 <= hi[2] - lo[2] <= 9.0 and 2.5 <= hi[1] - lo[1] <= 3.0
    assert hi[1] == FLOOR_Y == 1.5
    assert lo[0] < 0 < hi[0] and lo[2] < 0 < hi[2]  # the start is inside
    assert 6 <= len(lay.furniture) <= 15
    for item in lay.furniture:  # standing on the floor, inside the room
        assert max(b[1][1] for b in item.boxes) == pytest.approx(FLOOR_Y)
        x0, x1, z0, z1 = item.footprint
        assert lo[0] - 1e-9 <= x0 < x1 <= hi[0] + 1e-9 and lo[2] - 1e-9 <= z0 < z1 <= hi[2] + 1e-9
    # at least 2 m free straight ahead of the start, and the start is on the loop heading +z
    for item in lay.furniture + lay.decor:
        x0, x1, z0, z1 = item.footprint
        assert x1 < -0.3 or x0 > 0.3 or z1 < 0.0 or z0 > 2.0, item.name
    assert hi[2] > 2.0
    xz, heading = lay.loop.points([lay.loop.start])
    np.testing.assert_allclose(xz[0], [0.0, 0.0], atol=1e-12)
    assert heading[0] == pytest.approx(0.0)


def test_loop_is_continuous_and_headings_match_its_tangent():
    loop = room_layout(1).loop
    u = np.linspace(-3.0, 2.5 * loop.perimeter, 4001)
    xz, heading = loop.points(u)
    step = np.linalg.norm(np.diff(xz, axis=0), axis=1)
    assert step.max() <= (u[1] - u[0]) + 1e-9  # arc length parametrisation, no jumps
    d = np.diff(xz, axis=0)
    tangent = np.arctan2(d[:, 0], d[:, 1])
    mid = 0.5 * (heading[1:] + heading[:-1])
    assert np.abs(np.angle(np.exp(1j * (tangent - mid)))).max() < 0.02
    assert np.diff(heading).min() >= 0 and heading[-1] - heading[0] == pytest.approx(
        2 * np.pi * (u[-1] - u[0]) / loop.perimeter, abs=0.5)


def test_quads_face_the_inside_of_the_room_and_out_of_boxes(rooms):
    sc = rooms[0]
    lay = room_layout(0)
    lo, hi = room_extent(0)
    centre = 0.5 * (lo + hi)
    q_centre = sc.p0 + 0.5 * (sc.e1 + sc.e2)
    shell = np.einsum("ij,ij->i", sc.normal[:6], centre - q_centre[:6])
    assert (shell > 0).all()  # floor, ceiling and walls are seen from inside
    q = 6
    for item in lay.decor + lay.furniture:
        for blo, bhi, faces in item.boxes:
            bc = 0.5 * (np.asarray(blo) + np.asarray(bhi))
            for k in range(q, q + len(faces)):
                assert sc.normal[k] @ (q_centre[k] - bc) > 0  # box faces point out of their box
            q += len(faces)
    assert q == sc.n_quads
    assert set(sc.styles) <= {"plaster", "wood", "carpet", "box"}


# ---------------------------------------------------------------- motion

@pytest.mark.parametrize("seed", SEEDS)
def test_indoor_walk_stays_in_the_room_and_clear_of_everything(seed):
    p = _walk(seed)
    lo, hi = room_extent(seed)
    pos = p[:, :3, 3]
    assert np.all(pos > lo + 0.5) and np.all(pos < hi - 0.5)
    lay = room_layout(seed)
    xz = pos[:, [0, 2]]
    for item in lay.furniture + lay.decor:
        x0, x1, z0, z1 = item.footprint
        dx = np.maximum(np.maximum(x0 - xz[:, 0], xz[:, 0] - x1), 0.0)
        dz = np.maximum(np.maximum(z0 - xz[:, 1], xz[:, 1] - z1), 0.0)
        assert np.hypot(dx, dz).min() >= 0.5, item.name  # horizontally clear of the footprint
    # independently of the layout: 3D distance to every quad of the rendered scene
    sc = make_scene(seed, "indoor")
    assert _quad_distances(pos[::3], sc).min() >= 0.5


def test_indoor_walk_is_slow_smooth_handheld_motion():
    for seed in SEEDS[:2]:
        p, t = make_trajectory("indoor", 450, seed=seed, fps=30.0)
        np.testing.assert_allclose(t, np.arange(450) / 30.0)
        R = p[:, :3, :3]
        np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
        np.testing.assert_allclose(p[0, :3, 3], 0.0, atol=0.12)  # starts at the origin ...
        assert np.degrees(np.arccos(p[0, 2, 2])) < 12.0  # ... looking along +z
        rel = [np.linalg.inv(a) @ b for a, b in zip(p[:-1], p[1:])]
        trans = np.array([np.linalg.norm(r[:3, 3]) for r in rel])
        rot = np.degrees([np.arccos(np.clip((np.trace(r[:3, :3]) - 1) / 2, -1, 1)) for r in rel])
        assert 0.008 < trans.min() and trans.max() < 0.035 and 0.015 < trans.mean() < 0.025
        assert 0.3 < rot.mean() < 2.0 and rot.max() < 5.0
        # yaw sweeps about the direction of travel by tens of degrees, at most ~40 (+ the walk's wobble)
        d = np.diff(p[:, [0, 2], 3], axis=0)
        travel = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
        yaw = np.unwrap(np.arctan2(p[:, 0, 2], p[:, 2, 2]))[1:]
        off = np.degrees(np.abs(np.angle(np.exp(1j * (yaw - travel)))))
        assert 15.0 < off.max() < 60.0
        assert np.ptp(p[:, 1, 3]) > 0.02  # bobs up and down


# ---------------------------------------------------------------- rendering

@pytest.mark.parametrize("seed", SEEDS[:3])
def test_room_renders_depth_everywhere(rooms, seed):
    sc = rooms[seed]
    intr = default_intrinsics(160, 120, 0.91)
    lo, hi = room_extent(seed)
    diag = float(np.linalg.norm(hi - lo))
    p = _walk(seed, 300)
    for k in range(0, 300, 60):
        rgb, depth = render_frame(sc, intr, p[k])
        assert (depth > 0).all()  # no sky anywhere
        assert depth.max() <= diag and depth.min() >= 0.3
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        assert gray.std() > 0.04 and np.abs(np.diff(gray, axis=1)).mean() > 0.005  # textured
    _, d0 = render_frame(sc, intr, p[0])
    assert d0[50:70, 70:90].min() > 1.8  # free space ahead of the start


def test_room_is_deterministic_and_seed_dependent(rooms):
    a = make_scene(0, "indoor")
    for name in ("p0", "e1", "e2", "shade"):
        assert np.array_equal(getattr(a, name), getattr(rooms[0], name))
    assert a.styles == rooms[0].styles
    intr = default_intrinsics(64, 48, 0.91)
    pose = _walk(0, 40)[39]
    ra, da = render_frame(a, intr, pose)
    rb, db = render_frame(rooms[0], intr, pose)
    assert np.array_equal(ra, rb) and np.array_equal(da, db)
    assert np.array_equal(_walk(2, 50), _walk(2, 50))
    assert not np.array_equal(_walk(2, 50), _walk(3, 50))
    assert not np.array_equal(make_scene(1, "indoor").p0[:6], a.p0[:6])


# Checksums of street sequences (pose text as in poses.txt, then frames 0 and 11 quantised as the
# KITTI layout writes them) recorded with the code before the indoor scene existed: adding it must
# not change a single street bit.
_STREET_SHA = {
    ("forward", 0): "074b92de9d6e7f6fb1428e0f91a443a6",
    ("handheld", 7): "37b47da48163ded3a73f76c5e42307a6",
    ("rotation", 4): "043c130c53f18e2d9ede55c3da76b5bb",
    ("static", 5): "b5a00f02ccb3371b4d002a4511e7b4b4",
}


@pytest.mark.parametrize("kind,seed", sorted(_STREET_SHA))
def test_street_streams_are_unchanged(kind, seed):
    intr = default_intrinsics(160, 48)
    p, _ = make_trajectory(kind, 12, seed=seed, fps=10.0)
    sc = make_scene(seed, kind, length=60.0 if kind == "forward" else None)
    h = hashlib.sha256("".join(" ".join(f"{x:.9e}" for x in q[:3, :4].reshape(-1)) + "\n" for q in p).encode())
    for pose in p[::11]:
        rgb, d = render_frame(sc, intr, pose)
        h.update(rgb_to_uint8(rgb).tobytes())
        h.update(depth_to_uint16(d, 256.0, True).tobytes())
    assert h.hexdigest()[:32] == _STREET_SHA[(kind, seed)]


# ---------------------------------------------------------------- writing and CLI

def test_write_sequence_indoor_defaults(tmp_path):
    out = write_sequence(tmp_path / "r", layout="kitti", n_frames=3, width=64, height=48, motion="indoor", seed=1,
                         write_flow=True)
    params = json.loads((out / "synth.json").read_text())
    assert params["fps"] == 30.0 and params["focal_ratio"] == 0.91
    assert params["intrinsics"]["fx"] == pytest.approx(0.91 * 64)
    times = np.loadtxt(out / "times.txt")
    np.testing.assert_allclose(times, np.arange(3) / 30.0, atol=1e-6)
    poses = np.loadtxt(out / "poses.txt").reshape(-1, 3, 4)
    np.testing.assert_allclose(poses, _walk(1, 3)[:, :3], atol=1e-8)
    depth = cv2.imread(str(out / "depth" / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and (depth > 0).all()
    assert (out / "flow" / "000001.flo").exists()


def test_cli_indoor(tmp_path):
    from click.testing import CliRunner

    from vo_app.cli.synth import main

    runner = CliRunner()
    res = runner.invoke(main, [str(tmp_path / "a"), "--frames", "2", "--size", "64x48", "--motion", "indoor",
                               "--layout", "tum", "--no-flow"])
    assert res.exit_code == 0, res.output
    k = np.loadtxt(tmp_path / "a" / "intrinsics.txt")
    assert k[0] == pytest.approx(0.91 * 64)
    stamps = [ln.split()[0] for ln in (tmp_path / "a" / "rgb.txt").read_text().splitlines() if ln[0] != "#"]
    assert stamps == ["1.000000", "1.033333"]  # 30 Hz
    res = runner.invoke(main, [str(tmp_path / "b"), "--frames", "2", "--size", "64x48", "--motion", "indoor",
                               "--focal-ratio", "0.6", "--fps", "15", "--no-flow"])
    assert res.exit_code == 0, res.output
    params = json.loads((tmp_path / "b" / "synth.json").read_text())
    assert params["focal_ratio"] == 0.6 and params["fps"] == 15.0
    res = runner.invoke(main, [str(tmp_path / "c"), "--frames", "2", "--size", "64x48", "--no-flow"])
    assert res.exit_code == 0, res.output
    params = json.loads((tmp_path / "c" / "synth.json").read_text())
    assert params["focal_ratio"] == 0.58 and params["fps"] == 10.0 and params["motion"] == "forward"
    res = runner.invoke(main, [str(tmp_path / "e"), "--focal-ratio", "-1"])
    assert res.exit_code == 2 and "--focal-ratio" in res.output
