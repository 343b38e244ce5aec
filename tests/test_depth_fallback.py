"""Poses against the reference frame's depth: PnP (geometry/pnp.py), the direct photometric refinement
(geometry/direct.py) and their use where F gives no pose (pipeline/odometry.py)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vo_app.geometry.direct import refine_direct
from vo_app.geometry.pnp import backproject, pose_pnp
from vo_app.geometry.se3 import rotation_angle, so3_exp
from vo_app.models.dis import DISFlow
from vo_app.synth import default_intrinsics, make_scene, make_trajectory, render_frame

W, H = 416, 128


def _pair(kind: str):
    scene = make_scene(0, kind, length=60.0)
    poses, _ = make_trajectory(kind, 3, seed=0)
    intr = default_intrinsics(W, H)
    K = np.array([[intr.fx, 0, intr.cx], [0, intr.fy, intr.cy], [0, 0, 1.0]])
    (rgb1, d1), (rgb2, _) = [render_frame(scene, intr, poses[i]) for i in (0, 1)]
    T_gt = np.linalg.inv(poses[1]) @ poses[0]  # camera 1 -> camera 2
    return rgb1, rgb2, d1, K, T_gt


@pytest.fixture(scope="module", params=["forward", "handheld"])
def pair(request):
    return _pair(request.param)


def _errors(T, T_gt):
    rot = float(np.degrees(rotation_angle(T[:3, :3] @ T_gt[:3, :3].T)))
    trans = float(np.linalg.norm(T[:3, 3] - T_gt[:3, 3]) / np.linalg.norm(T_gt[:3, 3]))
    return rot, trans


def _flow_matches(rgb1, rgb2, d1, step=4):
    flow, _ = DISFlow("medium")(rgb1, rgb2)
    ys, xs = np.mgrid[step:H - step:step, step:W - step:step]
    p1 = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    p2 = p1 + flow[ys.ravel(), xs.ravel()]
    depth = d1[ys.ravel(), xs.ravel()].astype(np.float64)
    depth[depth <= 0] = np.nan  # sky
    return p1, p2, depth


def test_pnp_then_direct_recovers_the_pose_with_exact_depth(pair):
    """The issue's check: flow matches + exact depth -> < 0.1 deg and < 1 % translation error."""
    rgb1, rgb2, d1, K, T_gt = pair
    p1, p2, depth = _flow_matches(rgb1, rgb2, d1)
    pnp = pose_pnp(p1, p2, depth, K)
    assert pnp.ok and pnp.inliers.sum() > 0.5 * np.isfinite(depth).sum()
    rot, trans = _errors(pnp.T, T_gt)
    assert rot < 0.1 and trans < 0.05, (rot, trans)
    g1, g2 = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (rgb1, rgb2))
    refined = refine_direct(g1, g2, d1, K, pnp.T)
    rot, trans = _errors(refined.T, T_gt)
    assert rot < 0.1 and trans < 0.01, (rot, trans)


def test_direct_refinement_converges_from_a_perturbed_pose(pair):
    rgb1, rgb2, d1, K, T_gt = pair
    P = np.eye(4)
    P[:3, :3] = so3_exp(np.radians([0.5, -0.3, 0.4]))
    P[:3, 3] = [0.03, -0.02, 0.05]
    T0 = P @ T_gt
    assert _errors(T0, T_gt)[0] > 0.5
    g1, g2 = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (rgb1, rgb2))
    res = refine_direct(g1, g2, d1, K, T0)
    rot, trans = _errors(res.T, T_gt)
    assert rot < 0.1 and trans < 0.01, (rot, trans)
    assert res.n_points > 1000 and np.isfinite(res.rms)


def test_pnp_input_checks_and_failure():
    K = np.array([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]])
    X = backproject(np.array([[50.0, 40.0], [150.0, 40.0]]), np.array([2.0, 4.0]), K)
    np.testing.assert_allclose(X, [[0, 0, 2], [4, 0, 4]])
    with pytest.raises(ValueError, match=r"depth \[N\]"):
        backproject(np.zeros((3, 2)), np.zeros(2), K)
    p = np.random.default_rng(0).uniform(0, 80, (40, 2))
    res = pose_pnp(p, p + 1.0, np.full(40, np.nan), K)  # no usable depth
    assert not res.ok and not res.inliers.any() and np.array_equal(res.T, np.eye(4))


def _config(tmp_path, name: str, *lines: str) -> Path:
    """``lines`` as a config file (layered on the demo preset: ``--config demo --config FILE``)."""
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text("".join(f"{ln}\n" for ln in lines))
    return cfg


def _run(seq, out, run_cli, *extra, config=None):
    layers = ["--config", "demo"] + (["--config", config] if config is not None else [])
    res = run_cli([seq, "--out", out, *layers, "--quiet", *extra])
    assert res.code == 0, res.err
    return json.loads((out / "report.json").read_text()), np.loadtxt(out / "trajectory_kitti.txt")


def test_pure_rotation_with_rgbd_poses_against_the_depth_without_a_jump(rotation_seq, tmp_path, run_cli):
    """Pure rotation about a fixed centre: with depth, the fallback pairs are posed by PnP (the default,
    ``depth_fallback: pnp``) or PnP + direct refinement (named in the report) and the camera centre
    stays put either way."""
    for name, how, cfg in (("a", "pnp", None), ("b", "pnp+direct", _config(tmp_path, "pd", "depth_fallback: pnp+direct"))):
        rep, traj = _run(rotation_seq, tmp_path / name, run_cli, "--scale", "rgbd", config=cfg)
        notes = [p.get("scale_note") or "" for p in rep["pairs"] if p.get("fallback")]
        assert notes and sum(n.startswith(f"{how} on the rgbd depth") for n in notes) >= len(notes) // 2, (how, notes)
        centres = traj.reshape(-1, 3, 4)[:, :, 3]
        assert np.abs(centres).max() < 0.05, (how, np.abs(centres).max())


def test_depth_fallback_option(rotation_seq, tmp_path, run_cli):
    cfg = _config(tmp_path, "c", "depth_fallback: none")
    rep, _ = _run(rotation_seq, tmp_path / "b", run_cli, "--scale", "rgbd", config=cfg)
    assert not any((p.get("scale_note") or "").startswith("pnp") for p in rep["pairs"])
    cfg = _config(tmp_path, "d", "depth_fallback: sometimes")
    res = run_cli([rotation_seq, "--out", tmp_path / "c", "--config", "demo", "--config", cfg, "--quiet"])
    assert res.code == 2 and len(res.err_lines) == 1 and "depth_fallback" in res.err_lines[0]


def test_scale_memory_fill_option(rotation_seq, tmp_path, run_cli):
    cfg = _config(tmp_path, "f", "scale_memory_fill: often")
    res = run_cli([rotation_seq, "--out", tmp_path / "f", "--config", "demo", "--config", cfg, "--quiet"])
    assert res.code == 2 and len(res.err_lines) == 1 and "scale_memory_fill" in res.err_lines[0]
    assert str(cfg) in res.err_lines[0]


def test_keyframe_mode_holds_the_reference_and_poses_held_frames_against_its_points(handheld_seq, tmp_path, run_cli):
    """keyframe_parallax_px: low-parallax pairs keep their reference and are posed by PnP against the
    points triangulated in it; every frame still gets a finite row, and on this rendered handheld
    walk the trajectory is more accurate than without keyframes."""
    cfg = _config(tmp_path, "k", "keyframe_parallax_px: 3.0")
    rep, traj = _run(handheld_seq, tmp_path / "k", run_cli, "--eval", config=cfg)
    pairs = rep["pairs"]
    held = [p for p in pairs if p["ref"] != p["frame"] - 1]
    assert held, "no pair kept its reference"
    assert any((p.get("scale_note") or "").startswith("pnp on the reference's triangulated points") for p in pairs)
    assert traj.shape[0] == rep["frames"] and np.isfinite(traj).all()
    base, _ = _run(handheld_seq, tmp_path / "b", run_cli, "--eval")
    # measured with the demo preset (DIS fullres): 0.0047 m with keyframes, 0.0053 m without; with DIS medium
    # 0.0050 and 0.0089 m (README.md, "Scale sources")
    assert rep["accuracy"]["ate_rmse_m"] < base["accuracy"]["ate_rmse_m"]


def test_rgbd_low_parallax_pairs_are_posed_against_the_depth(tmp_path):
    """The stop-and-go drive's restarts and walking-pace pivots (steps of 0.5-5 cm): with the
    sensor's depth (here the renderer's exact depth), pairs under ``rgbd_pnp_parallax_px`` are posed
    by PnP against the reference's depth, and every step of the segment stays within +-5 % of the
    drive's start (worst 2 % when written).  Posed by F with the rgbd norm (``rgbd_pnp_parallax_px: 0``, the rule off), 23 of these
    56 steps were outside, up to +28 % (README "Scale sources")."""
    from vo_app.eval.drift import scale_drift
    from vo_app.io import open_sequence, read_kitti
    from vo_app.pipeline.config import load_config
    from vo_app.pipeline.odometry import run_odometry
    from vo_app.synth import write_sequence

    root = tmp_path / "stopgo"
    write_sequence(root, layout="kitti", n_frames=260, width=W, height=H, motion="stopgo", seed=3, write_flow=False)
    cfg = load_config("demo", scale="rgbd")
    seq = open_sequence(root, size=cfg.size)
    report = run_odometry(seq, cfg, tmp_path / "out")
    est = read_kitti(tmp_path / "out" / "trajectory_kitti.txt")
    drift = scale_drift(np.asarray(seq.gt_poses)[:, :3, 3], est[:, :3, 3])
    tiny = drift["by_step_length"][0]
    assert tiny["max_m"] == pytest.approx(0.05) and tiny["steps"] >= 40
    assert tiny["outside"] == 0, tiny
    assert all(c["outside"] == 0 for c in drift["by_step_length"]), drift["by_step_length"]  # the whole segment
    assert sum("low parallax" in (p.get("scale_note") or "") for p in report["pairs"]) >= 10
