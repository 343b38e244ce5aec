"""The ``stopgo`` motion of vo-synth: stop-and-go driving with a stop, a pan while standing and a U-turn."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vo_app.synth import MOTIONS, default_intrinsics, make_trajectory, render_frame
from vo_app.synth.layout import scene_for

SEEDS = (0, 1, 2, 3)

# make_trajectory(kind, 50, seed=3) of the streams that existed before stopgo: adding a motion at the end of
# MOTIONS must not change the others' random streams.  Until 2026-12 this was a sha256 of the bytes; on a fresh
# environment (numpy 2.4.6) "indoor" came out with another digest at the commit that recorded it (the other four
# matched bit for bit), i.e. library rounding, not a changed stream, so the snapshot is compared to 1e-9.
_BEFORE = Path(__file__).parent / "fixtures" / "motion_streams_seed3.npz"
_KINDS = ("forward", "handheld", "indoor", "rotation", "static")


def _drive(seed: int, n: int = 600) -> np.ndarray:
    return make_trajectory("stopgo", n, seed=seed)[0]


def _steps(p: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(p[:, :3, 3], axis=0), axis=1)


def _rot_deg(R: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, length)`` of each run of True in ``mask``."""
    out, start = [], None
    for k, v in enumerate(list(mask) + [False]):
        if v and start is None:
            start = k
        elif not v and start is not None:
            out.append((start, k - start))
            start = None
    return out


@pytest.mark.parametrize("kind", _KINDS)
def test_stopgo_is_appended_and_other_streams_are_unchanged(kind):
    assert MOTIONS[:5] == ("forward", "handheld", "rotation", "static", "indoor") and MOTIONS[-1] == "stopgo"
    p, t = make_trajectory(kind, 50, seed=3)
    with np.load(_BEFORE) as snap:
        np.testing.assert_allclose(p, snap[f"{kind}_poses"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(t, snap[f"{kind}_times"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_speed_profile_starts_still_cruises_near_1m_and_stops_for_20_frames(seed):
    p = _drive(seed)
    v = _steps(p)
    assert v[0] == 0.0  # starts from standstill
    assert 0.9 < v.max() < 1.1  # ~1 m/frame at 10 Hz (~36 km/h)
    assert max(n for _, n in _runs(v > 0.9)) >= 10  # cruising
    assert np.abs(np.diff(v)).max() < 0.045  # at most 4.5 m/s^2 at 10 Hz: smooth ramps, no jumps
    # a full stop: 20 frames with exactly the same pose, right after braking from cruising speed
    same = np.all(p[1:] == p[:-1], axis=(1, 2))
    start, length = max(_runs(same), key=lambda r: r[1])
    assert length >= 19  # 19 zero steps = 20 frames
    assert start > 60 and v[start - 60:start].max() > 0.9  # braked from cruising speed (in 4..5 s) ...
    assert np.all(np.diff(v[start - 35:start]) <= 0) and v[start - 1] < 1e-3  # ... smoothly to a halt
    # the zero-translation stretch (stop, then the pan) lasts at least 20 steps
    assert max(n for _, n in _runs(v == 0.0)) >= 20


@pytest.mark.parametrize("seed", SEEDS)
def test_pure_rotation_segment_pans_and_returns_in_place(seed):
    p = _drive(seed)
    v = _steps(p)
    start, length = max(_runs(v == 0.0), key=lambda r: r[1])  # the stop and the pan
    seg = p[start:start + length + 1]
    assert np.all(seg[:, :3, 3] == seg[0, :3, 3])  # zero translation throughout
    angles = np.array([_rot_deg(seg[0, :3, :3].T @ q[:3, :3]) for q in seg])
    assert 15.0 - 1e-6 <= angles.max() <= 25.0 + 1e-6  # a 15..25 deg pan ...
    assert (angles > 0.1).sum() >= 20  # ... over 2.4 s or more ...
    assert angles[-1] == 0.0  # ... and back
    # the pan is about the camera's vertical axis (a yaw): the optical axis stays level
    assert np.abs(seg[:, 1, 2]).max() < 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_u_turn_of_two_90_degree_pivots_then_back_in_the_other_lane(seed):
    p = _drive(seed, 400)
    axis = p[:, :3, 2]  # optical axis in the world
    heading = np.degrees(np.unwrap(np.arctan2(axis[:, 0], axis[:, 2])))
    assert heading.min() < -179.0 and heading.max() < 30.0  # turned round to the left
    sideways = np.flatnonzero(np.abs(heading + 90.0) < 0.5)
    assert len(sideways) >= 3  # held at 90 deg while creeping across
    rel = np.array([_rot_deg(a[:3, :3].T @ b[:3, :3]) for a, b in zip(p[:-1], p[1:])])
    assert rel.max() < 7.0  # a moderate turn rate (< 70 deg/s)
    back = np.flatnonzero(np.abs(heading + 180.0) < 0.5)
    x_back = p[back[-1], 0, 3]
    assert x_back < -0.5 and p[0, 0, 3] > 0.5  # drove out on the right, comes back on the other side


@pytest.mark.parametrize("seed", SEEDS)
def test_camera_stays_inside_the_street(seed):
    p = _drive(seed, 1200)
    xyz = p[:, :3, 3]
    assert np.abs(xyz[:, 0]).max() < 1.3  # kerb objects start 2.2 m from the centre line, facades 5 m
    assert np.abs(xyz[:, 1] - xyz[0, 1]).max() < 0.2
    assert xyz[:, 2].min() > -10.0 and xyz[:, 2].max() < 100.0  # the street begins at -30 m
    # rotations stay rigid
    R = p[:, :3, :3]
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)


def test_longer_sequences_start_with_the_same_frames():
    a, b = _drive(2, 150), _drive(2, 500)
    assert np.array_equal(a, b[:150])


def test_rendered_frames_have_no_nan_in_a_forward_street():
    p = _drive(0, 300)
    scene = scene_for("stopgo", 0, p)
    assert scene.kind == "forward" and scene.length >= p[:, 2, 3].max() + 60.0
    intr = default_intrinsics(96, 32)
    v = _steps(p)
    heading = np.degrees(np.arctan2(p[:, 0, 2], p[:, 2, 2]))
    picks = {0, int(np.argmax(v)), int(np.argmin(np.abs(heading + 90.0))), 299}  # start, cruise, sideways, end
    for i in sorted(picks):
        rgb, depth = render_frame(scene, intr, p[i])
        assert np.isfinite(rgb).all() and np.isfinite(depth).all(), i
        assert (depth > 0).mean() > 0.5, i  # mostly street, not sky
        assert depth[depth > 0].min() > 0.5, i  # never inside an object


def test_cli_writes_a_stopgo_sequence(tmp_path):
    from click.testing import CliRunner

    from vo_app.cli.synth import main

    res = CliRunner().invoke(main, [str(tmp_path / "s"), "--motion", "stopgo", "--frames", "150", "--layout", "kitti",
                                    "--size", "32x16", "--no-flow"])
    assert res.exit_code == 0, res.output
    params = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert params["motion"] == "stopgo" and params["fps"] == 10.0 and params["focal_ratio"] == 0.58
    poses = np.loadtxt(tmp_path / "s" / "poses.txt").reshape(-1, 3, 4)
    assert len(poses) == 150
    np.testing.assert_allclose(poses, _drive(0, 150)[:, :3], atol=1e-8)
    assert len(list((tmp_path / "s" / "image_2").iterdir())) == 150
