"""Trajectory files (KITTI / TUM), quaternion helpers and atomic writes."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from evo.core import transformations as tf
from evo.tools import file_interface

from vo_app.errors import UserError
from vo_app.io import (atomic_write_json, atomic_write_text, detect_format, format_kitti, format_tum, read_kitti,
                       read_trajectory, read_tum, write_kitti, write_tum)
from vo_app.geometry.se3 import interpolate
from vo_app.io.rotations import quat_to_rotation, rotation_to_quat
from vo_app.io.tum import associate_poses


def random_poses(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, :3] = quat_to_rotation(rng.normal(size=(n, 4)))
    T[:, :3, 3] = rng.normal(scale=10, size=(n, 3))
    return T


def rot(axis, angle) -> np.ndarray:
    return tf.rotation_matrix(angle, axis)[:3, :3]


# ------------------------------------------------------------------ rotations
def test_quaternion_round_trip_and_hamilton_convention():
    R = random_poses(200)[:, :3, :3]
    q = rotation_to_quat(R)
    assert q.shape == (200, 4) and np.all(q[:, 3] >= 0)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(quat_to_rotation(q), R, atol=1e-12)
    # evo/transformations uses (w, x, y, z); same Hamilton convention up to sign
    for Ri, qi in zip(R[:20], q[:20]):
        e = tf.quaternion_from_matrix(np.block([[Ri, np.zeros((3, 1))], [np.zeros((1, 3)), 1]]))
        e = e if e[0] >= 0 else -e
        np.testing.assert_allclose(qi, [e[1], e[2], e[3], e[0]], atol=1e-12)
    # 90 degrees about z: q = (0, 0, sin 45, cos 45)
    np.testing.assert_allclose(rotation_to_quat(rot([0, 0, 1], np.pi / 2)), [0, 0, np.sqrt(0.5), np.sqrt(0.5)])


@pytest.mark.parametrize("axis", [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
def test_quaternion_near_180_degrees(axis):
    for angle in (np.pi, np.pi - 1e-7, np.pi - 1e-3):
        R = rot(axis, angle)
        np.testing.assert_allclose(quat_to_rotation(rotation_to_quat(R)), R, atol=1e-10)


def test_ground_truth_interpolated_at_image_times():
    """TUM ground truth between two samples: linear translation, geodesic rotation (the one pose
    interpolation, geometry/se3.interpolate), batched over the image times; outside the span the
    nearest sample within 0.05 s, beyond it None."""
    T0, T1 = np.eye(4), np.eye(4)
    T0[:3, :3] = rot([0, 0, 1], 0.2)
    T1[:3, :3], T1[:3, 3] = rot([0, 0, 1], 1.0), [2, 4, 6]
    out = associate_poses(np.array([10.0, 10.25, 10.5, 11.0, 11.03]), np.array([11.0, 10.0]), np.stack([T1, T0]))
    np.testing.assert_array_equal(out[0], T0)  # alpha 0: the sample itself, exactly
    for k, a in ((1, 0.25), (2, 0.5)):
        np.testing.assert_allclose(out[k, :3, 3], a * T1[:3, 3], atol=1e-12)
        np.testing.assert_allclose(out[k, :3, :3], rot([0, 0, 1], 0.2 + 0.8 * a), atol=1e-12)
        np.testing.assert_array_equal(out[k], interpolate(T0, T1, a))  # batched == one pose at a time
    np.testing.assert_allclose(out[3], T1, atol=1e-12)
    np.testing.assert_array_equal(out[4], T1)  # 0.03 s after the last sample: held
    assert associate_poses(np.array([11.2]), np.array([10.0, 11.0]), np.stack([T0, T1])) is None


# ------------------------------------------------------------------ KITTI / TUM files
def test_kitti_round_trip_through_evo_and_ours(tmp_path):
    poses = random_poses(30)
    path = write_kitti(tmp_path / "out" / "traj.txt", poses)
    lines = path.read_text().splitlines()
    assert len(lines) == 30 and all(len(ln.split()) == 12 for ln in lines)
    assert np.array_equal(read_kitti(path), poses)  # shortest-repr numbers read back exactly
    evo_traj = file_interface.read_kitti_poses_file(str(path))
    np.testing.assert_allclose(np.array(evo_traj.poses_se3), poses, atol=1e-12)
    assert detect_format(path) == "kitti"
    t = read_trajectory(path)
    assert t.fmt == "kitti" and t.timestamps is None and np.array_equal(t.poses, poses)
    assert np.array_equal(read_kitti(tmp_path / "out" / "traj.txt"), read_trajectory(path, "kitti").poses)


def test_tum_round_trip_through_evo_and_ours(tmp_path):
    poses = random_poses(25, 1)
    stamps = 1305031102.175304 + 0.0333 * np.arange(25)
    path = write_tum(tmp_path / "traj_tum.txt", stamps, poses)
    rows = [ln.split() for ln in path.read_text().splitlines()]
    assert all(len(r) == 8 and len(r[0].split(".")[1]) == 6 for r in rows)
    assert all(float(r[7]) >= 0 for r in rows)  # qw >= 0
    evo_traj = file_interface.read_tum_trajectory_file(str(path))
    np.testing.assert_allclose(evo_traj.timestamps, stamps, atol=1e-6)
    np.testing.assert_allclose(np.array(evo_traj.poses_se3), poses, atol=1e-12)
    t, back = read_tum(path)
    np.testing.assert_allclose(t, stamps, atol=1e-6)
    np.testing.assert_allclose(back, poses, atol=1e-12)
    assert detect_format(path) == "tum"
    tr = read_trajectory(path)
    assert tr.fmt == "tum" and np.array_equal(tr.timestamps, t)


def test_format_functions_accept_3x4_and_match_writers(tmp_path):
    poses = random_poses(3, 2)
    assert format_kitti(poses[:, :3]) == format_kitti(poses)
    text = format_tum([0, 1, 2], poses)
    write_tum(tmp_path / "a.txt", [0, 1, 2], poses)
    assert (tmp_path / "a.txt").read_text() == text


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_refused(tmp_path, bad):
    poses = random_poses(4)
    poses[2, 1, 3] = bad
    with pytest.raises(ValueError, match="pose 2"):
        write_kitti(tmp_path / "k.txt", poses)
    with pytest.raises(ValueError):
        write_tum(tmp_path / "t.txt", np.arange(4.0), poses)
    with pytest.raises(ValueError, match="timestamp"):
        format_tum([0, 1, bad, 3], random_poses(4))
    with pytest.raises(ValueError):
        format_tum([0, 1], random_poses(4))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text,words", [
    ("1 2 3\n", ["line 1", "3 values"]),
    ("# c\n" + "1 " * 12 + "\n1 2 3 4 5 6 7 8 9 10 11\n", ["line 3", "11 values", "12 numbers"]),
    ("1 0 0 0 0 1 0 0 0 0 1 zero\n", ["line 1", "non-numeric"]),
    ("1 0 0 nan 0 1 0 0 0 0 1 0\n", ["line 1", "non-finite"]),
    ("# only a comment\n", ["no poses"]),
])
def test_malformed_kitti_file(tmp_path, text, words):
    path = tmp_path / "bad_traj.txt"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        read_kitti(path)
    msg = str(e.value)
    assert "\n" not in msg and "bad_traj.txt" in msg and all(w in msg for w in words), msg


@pytest.mark.parametrize("text,words", [
    ("0 1 2 3 0 0 0 1\n1 1 2 3 0 0 0\n", ["line 2", "7 values", "timestamp tx ty tz qx qy qz qw"]),
    ("0 1 2 3 0 0 0 0\n", ["line 1", "zero quaternion"]),
])
def test_malformed_tum_file(tmp_path, text, words):
    path = tmp_path / "bad_tum.txt"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        read_tum(path)
    msg = str(e.value)
    assert "\n" not in msg and "bad_tum.txt" in msg and all(w in msg for w in words), msg


def test_detect_format_errors(tmp_path):
    (tmp_path / "five.txt").write_text("1 2 3 4 5\n")
    with pytest.raises(UserError) as e:
        detect_format(tmp_path / "five.txt")
    assert "five.txt" in str(e.value) and "5 columns" in str(e.value)
    with pytest.raises(UserError) as e:
        read_trajectory(tmp_path / "missing.txt")
    assert "missing.txt" in str(e.value) and "not found" in str(e.value)


def test_tum_reader_normalises_quaternions_and_accepts_commas(tmp_path):
    (tmp_path / "t.txt").write_text("0.5, 1, 2, 3, 0, 0, 0, 2\n1.5 1 2 3 0 0 1 1\n")
    t, poses = read_tum(tmp_path / "t.txt")
    np.testing.assert_allclose(t, [0.5, 1.5])
    np.testing.assert_allclose(poses[0], [[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]])
    np.testing.assert_allclose(poses[1, :3, :3], rot([0, 0, 1], np.pi / 2), atol=1e-12)


# ------------------------------------------------------------------ atomic writes
def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "dir" / "out.txt"
    atomic_write_text(target, "first\n")
    atomic_write_text(target, "second\n")
    assert target.read_text() == "second\n"
    assert os.listdir(target.parent) == ["out.txt"]


def test_atomic_write_failure_keeps_old_file_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(UserError) as e:
        atomic_write_text(target, "new")
    assert "out.txt" in str(e.value) and "No space left" in str(e.value)
    monkeypatch.undo()
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_write_to_unwritable_directory(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(UserError) as e:
        atomic_write_text(blocker / "runs" / "out.txt", "hi")
    msg = str(e.value)
    assert "\n" not in msg and "not_a_dir" in msg and "writable" in msg


def test_atomic_write_json_handles_numpy_and_nan(tmp_path):
    path = atomic_write_json(tmp_path / "report.json", {"ate": np.float64(0.5), "bad": float("nan"),
                                                        "n": np.int64(3), "arr": np.arange(3), "p": tmp_path})
    data = json.loads(path.read_text())
    assert data == {"ate": 0.5, "bad": None, "n": 3, "arr": [0, 1, 2], "p": str(tmp_path)}
    assert os.listdir(tmp_path) == ["report.json"]
