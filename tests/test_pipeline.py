"""End-to-end VO on the synthetic fixtures: accuracy, fallbacks, determinism, outputs, crash safety."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from evo.tools import file_interface

from vo_app import geometry as geo
from vo_app.eval import ate, pair_errors, path_length
from vo_app.io import open_sequence, read_kitti, read_tum
from vo_app.pipeline.config import load_config
from vo_app.pipeline.odometry import run_odometry
from vo_app.pipeline.output import RunOutput

from _seqkit import raise_at

FILES = ("trajectory_kitti.txt", "trajectory_tum.txt", "report.json")


def run_vo(path: Path, out: Path, *, scale: str = "triangulation", seed: int | None = None, seq=None, **overrides):
    seq = seq if seq is not None else open_sequence(path)
    cfg = load_config("demo", scale=scale, seed=seed, **overrides)
    assert cfg.size is None  # the demo preset works at the native 416x128
    report = run_odometry(seq, cfg, out)
    return seq, report


def load_report(out: Path) -> dict:
    def no_nan(tok):
        raise AssertionError(f"report.json holds {tok}")

    return json.loads((out / "report.json").read_text(), parse_constant=no_nan)


def relative_ate(seq, out: Path) -> float:
    est = read_kitti(out / "trajectory_kitti.txt")
    gt = np.asarray(seq.gt_poses)
    assert est.shape == gt.shape
    res = ate(gt, est, align="sim3")
    assert res["align"] == "sim3"
    return res["rmse"] / path_length(gt)


@pytest.fixture(scope="module")
def handheld_run(tmp_path_factory, handheld_seq):
    out = tmp_path_factory.mktemp("handheld_run")
    seq, report = run_vo(handheld_seq, out)
    return seq, report, out


# ------------------------------------------------------------------ accuracy
def test_forward_rgbd_ate_below_1_percent(forward_seq, tmp_path, run_cli):
    res = run_cli([forward_seq, "--config", "demo", "--scale", "rgbd", "--quiet", "--out", tmp_path])
    assert res.code == 0, res.err
    assert "ATE RMSE (Sim(3)-aligned)" in res.out and res.err == ""
    seq = open_sequence(forward_seq)
    assert len(seq) == 40 and seq.has_depth
    assert relative_ate(seq, tmp_path) < 0.01
    rep = load_report(tmp_path)
    assert rep["totals"]["fallbacks"] == {} and rep["config"]["scale"] == "rgbd"
    assert all(p["scale_note"].startswith("rgbd") for p in rep["pairs"])


def test_forward_triangulation_ate_below_2_percent(forward_seq, tmp_path):
    seq, rep = run_vo(forward_seq, tmp_path, scale="triangulation")
    assert relative_ate(seq, tmp_path) < 0.02
    assert rep["totals"]["fallbacks"] == {} and rep["totals"]["pairs"] == 39
    pe = pair_errors(np.asarray(seq.gt_poses), read_kitti(tmp_path / "trajectory_kitti.txt"))
    assert pe["median_rot_deg"] < 0.05 and pe["median_tdir_deg"] < 1.0


def test_static_camera_never_moves(static_seq, tmp_path):
    seq, rep = run_vo(static_seq, tmp_path)
    est = read_kitti(tmp_path / "trajectory_kitti.txt")
    assert est.shape == (10, 4, 4) and np.isfinite(est).all()
    steps = np.linalg.norm(np.diff(est[:, :3, 3], axis=0), axis=1)
    assert steps.max() < 1e-6
    assert geo.rotation_angle(est[:, :3, :3]).max() < 1e-6
    assert rep["totals"]["fallbacks"] == {"no_motion": 9}
    assert all(p["fallback"] == "no_motion" and p["ref"] == 0 for p in rep["pairs"])


def test_pure_rotation_keeps_the_camera_centre(rotation_seq, tmp_path):
    seq, rep = run_vo(rotation_seq, tmp_path)
    est = read_kitti(tmp_path / "trajectory_kitti.txt")
    gt = np.asarray(seq.gt_poses)
    assert est.shape == gt.shape and np.isfinite(est).all()
    assert np.abs(est[:, :3, 3]).max() < 1e-9  # translation stays exactly 0: no jump
    step_est = geo.rotation_angle(np.einsum("nji,njk->nik", est[1:, :3, :3], est[:-1, :3, :3]))
    step_gt = geo.rotation_angle(np.einsum("nji,njk->nik", gt[1:, :3, :3], gt[:-1, :3, :3]))
    assert np.degrees(step_gt).min() > 0.5  # the fixture really rotates
    assert np.degrees(np.abs(step_est - step_gt)).max() < 0.05
    assert pair_errors(gt, est)["rot_deg"].max() < 0.1
    assert rep["totals"]["fallbacks"] == {"pure_rotation": 14}
    assert all(p["fallback"] == "pure_rotation" for p in rep["pairs"])


# ------------------------------------------------------------------ report and output files
def test_report_has_per_pair_records_and_totals(handheld_run):
    seq, report, out = handheld_run
    rep = load_report(out)
    assert rep["status"] == "complete" and rep["frames"] == 20 and rep["frames_written"] == 20
    assert rep["skipped_frames"] == [] and rep["filled_frames"] == {}
    assert rep["layout"] == "kitti" and rep["working_size"] == [416, 128]
    from vo_app import geometry as geometry_api

    assert rep["geometry_backend"] == geometry_api.backend_name("auto") and rep["config"]["seed"] == 0
    assert [p["frame"] for p in rep["pairs"]] == list(range(1, 20))
    for p in rep["pairs"]:
        for key in ("ref", "fallback", "candidates", "inliers", "triangulated", "scale", "scale_note", "timings_s",
                    "t_flow_s", "t_total_s", "median_flow_px", "parallax_px"):
            assert key in p, key
        assert p["t_total_s"] >= p["t_flow_s"] >= 0
        assert all(v >= 0 for v in p["timings_s"].values())
        if p["fallback"] is None:
            assert p["inliers"] >= rep["config"]["min_inliers"] and p["scale"] > 0
            assert {"sample", "ransac", "pose", "triangulate"} <= set(p["timings_s"])
    tot = rep["totals"]
    assert tot["pairs"] == 19 and tot["skipped_frames"] == 0
    assert tot["wall_time_s"] > 0 and tot["frames_per_s"] > 0
    assert tot["mean_inliers"] == pytest.approx(np.mean([p["inliers"] for p in rep["pairs"]]))
    assert sum(tot["fallbacks"].values()) == sum(p["fallback"] is not None for p in rep["pairs"])
    assert report["frames_written"] == 20
    assert relative_ate(seq, out) < 0.02


def test_outputs_read_back_with_evo(handheld_run):
    seq, _, out = handheld_run
    kitti = file_interface.read_kitti_poses_file(str(out / "trajectory_kitti.txt"))
    tum = file_interface.read_tum_trajectory_file(str(out / "trajectory_tum.txt"))
    assert kitti.num_poses == len(seq) == tum.num_poses == 20
    np.testing.assert_allclose(tum.timestamps, seq.timestamps, atol=1e-6)
    np.testing.assert_allclose(np.asarray(kitti.poses_se3), np.asarray(tum.poses_se3), atol=1e-6)
    np.testing.assert_allclose(kitti.poses_se3[0], np.eye(4), atol=1e-12)
    t, poses = read_tum(out / "trajectory_tum.txt")
    np.testing.assert_allclose(poses, read_kitti(out / "trajectory_kitti.txt"), atol=1e-9)


def test_tum_layout_timestamps_and_rgbd_scale(handheld_tum_seq, tmp_path, run_cli):
    res = run_cli([handheld_tum_seq, "--config", "demo", "--scale", "rgbd", "--quiet", "--out", tmp_path])
    assert res.code == 0, res.err
    seq = open_sequence(handheld_tum_seq)
    assert seq.layout == "tum" and seq.has_real_timestamps
    tum = file_interface.read_tum_trajectory_file(str(tmp_path / "trajectory_tum.txt"))
    assert tum.num_poses == 20
    np.testing.assert_allclose(tum.timestamps, seq.timestamps, atol=1e-6)
    np.testing.assert_allclose(tum.timestamps, 1.0 + np.arange(20) / 10.0, atol=1e-6)
    assert file_interface.read_kitti_poses_file(str(tmp_path / "trajectory_kitti.txt")).num_poses == 20
    assert relative_ate(seq, tmp_path) < 0.02


def test_same_seed_gives_identical_files(handheld_run, handheld_seq, tmp_path):
    _, _, first = handheld_run
    run_vo(handheld_seq, tmp_path, seed=0)
    for name in ("trajectory_kitti.txt", "trajectory_tum.txt"):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name
    strip = lambda r: [{k: v for k, v in p.items() if not k.startswith("t") or k == "triangulated"}  # noqa: E731
                       for p in r["pairs"]]
    assert strip(load_report(tmp_path)) == strip(load_report(first))


def test_another_seed_still_works(handheld_run, handheld_seq, tmp_path):
    _, _, first = handheld_run
    seq, rep = run_vo(handheld_seq, tmp_path, seed=7, seq=open_sequence(handheld_seq, max_frames=12))
    assert rep["config"]["seed"] == 7
    est = read_kitti(tmp_path / "trajectory_kitti.txt")
    assert est.shape == (12, 4, 4) and np.isfinite(est).all()
    assert relative_ate(seq, tmp_path) < 0.02
    assert not np.array_equal(est, read_kitti(first / "trajectory_kitti.txt")[:12])


# ------------------------------------------------------------------ crash safety
def _check_files(out: Path, n: int) -> None:
    kitti = read_kitti(out / "trajectory_kitti.txt")
    t, tum = read_tum(out / "trajectory_tum.txt")
    assert len(kitti) == len(tum) == n
    assert np.isfinite(kitti).all() and np.isfinite(tum).all()
    for name in ("trajectory_kitti.txt", "trajectory_tum.txt"):
        text = (out / name).read_text()
        assert text.endswith("\n") and len(text.splitlines()) == n  # complete rows only
    assert load_report(out)["frames_written"] == n


def test_every_flush_leaves_parseable_complete_files(handheld_seq, tmp_path, monkeypatch):
    flushed = []
    real_flush = RunOutput.flush

    def checking_flush(self, report, force=False):
        real_flush(self, report, force)
        n = self.complete_rows()
        _check_files(self.out_dir, n)
        flushed.append(n)

    monkeypatch.setattr(RunOutput, "flush", checking_flush)
    seq = raise_at(open_sequence(handheld_seq), 7, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_vo(handheld_seq, tmp_path, seq=seq, flush_seconds=0.0)
    assert flushed == list(range(2, 8)) + [7]  # one flush per finished pair, one at the interruption
    _check_files(tmp_path, 7)  # exactly the frames finished before the interruption
    rep = load_report(tmp_path)
    assert rep["status"] == "interrupted" and len(rep["pairs"]) == 6
    gt = np.asarray(seq.gt_poses)[:7]
    est = read_kitti(tmp_path / "trajectory_kitti.txt")
    assert ate(gt, est)["rmse"] / path_length(gt) < 0.05


def test_cli_interrupt_exits_130_and_keeps_finished_frames(handheld_seq, tmp_path, run_cli, monkeypatch):
    import vo_app.io

    real_open = vo_app.io.open_sequence
    monkeypatch.setattr(vo_app.io, "open_sequence", lambda *a, **kw: raise_at(real_open(*a, **kw), 5, KeyboardInterrupt()))
    preset = tmp_path / "every_frame.yaml"
    preset.write_text("size: null\nflush_seconds: 0.0\n")  # the demo preset, flushing after every frame
    out = tmp_path / "out"
    res = run_cli([handheld_seq, "--config", preset, "--quiet", "--out", out])
    assert res.code == 130
    assert len(res.err_lines) == 1 and "interrupted" in res.err and "Traceback" not in res.err
    _check_files(out, 5)


def test_corrupt_image_is_skipped_and_filled(handheld_seq, tmp_path):
    seq_dir = tmp_path / "seq"
    shutil.copytree(handheld_seq, seq_dir)
    bad = seq_dir / "image_2" / "000007.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image" * 10)
    out = tmp_path / "out"
    seq, _ = run_vo(seq_dir, out, seq=open_sequence(seq_dir, max_frames=12))
    rep = load_report(out)
    assert rep["status"] == "complete"
    assert len(rep["skipped_frames"]) == 1
    skipped = rep["skipped_frames"][0]
    assert skipped["frame"] == 7 and skipped["path"] == str(bad) and "000007.png" in skipped["reason"]
    assert rep["filled_frames"] == {"7": "interpolated"} and rep["totals"]["skipped_frames"] == 1
    assert 7 not in [p["frame"] for p in rep["pairs"]]
    assert any(p["frame"] == 8 and p["ref"] == 6 for p in rep["pairs"])
    est = read_kitti(out / "trajectory_kitti.txt")
    assert est.shape == (12, 4, 4) and np.isfinite(est).all()  # one row per input frame, no NaN
    np.testing.assert_allclose(est[7], geo.interpolate(est[6], est[8], 0.5), atol=1e-9)
    assert file_interface.read_kitti_poses_file(str(out / "trajectory_kitti.txt")).num_poses == 12
    assert file_interface.read_tum_trajectory_file(str(out / "trajectory_tum.txt")).num_poses == 12
    assert relative_ate(seq, out) < 0.02


def test_scale_ratio_with_no_shared_points():
    from vo_app.pipeline.scale_chain import PairMemory, dense_matches, ratio_from_dense

    h, w = 32, 48
    K = np.array([[40.0, 0, 23.5], [0, 40.0, 15.5], [0, 0, 1]])
    mem = PairMemory(p=np.array([[10.0, 10.0], [20.0, 12.0]]), depth=np.array([5.0, 6.0]),
                     angle=np.array([0.05, 0.05]), scale=1.0)
    flow = np.zeros((h, w, 2), np.float32)
    dense = dense_matches(mem, flow, np.zeros((h, w), bool), np.eye(3), np.array([0, 0, 1.0]), K)
    ratio, n_used, _ = ratio_from_dense(mem, dense, min_points=50)
    assert dense.shared == 0 and np.isnan(ratio) and n_used == 0


def test_carry_memory_moves_points_and_depths_with_the_pose():
    """Across a pair posed without triangulation, the memory's points follow the flow and their
    depths the pose (metric translation over the memory's norm); the norm and span stay."""
    from vo_app.geometry.pnp import backproject
    from vo_app.pipeline.scale_chain import PairMemory, carry_memory

    h, w = 60, 80
    K = np.array([[70.0, 0, 39.5], [0, 70.0, 29.5], [0, 0, 1]])
    rng = np.random.default_rng(0)
    cells = rng.choice(h * w, 300, replace=False)  # distinct integer pixels: the flow is exact there
    p = np.stack([cells % w, cells // w], 1).astype(np.float64)
    z = rng.uniform(4.0, 9.0, len(p))  # metric depths in frame 1
    scale = 0.5  # the memory's norm: its depths are metric / 0.5
    T = geo.make_pose(geo.se3.so3_exp(np.array([0.0, 0.02, 0.01])), np.array([0.05, 0.0, 0.3]))
    X2 = backproject(p, z, K) @ T[:3, :3].T + T[:3, 3]
    q = (X2[:, :2] / X2[:, 2:]) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    flow = np.zeros((h, w, 2), np.float32)
    flow[p[:, 1].astype(int), p[:, 0].astype(int)] = q - p
    out = carry_memory(PairMemory(p, z / scale, np.full(len(p), 0.02), scale, span=3), flow, T, K)
    inside = (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
    assert len(out.p) == inside.sum() > 200 and inside.sum() < len(p)  # some points leave the image
    np.testing.assert_allclose(out.p, q[inside], atol=1e-3)
    np.testing.assert_allclose(out.depth * out.scale, X2[inside, 2], rtol=1e-9)
    assert out.scale == scale and out.span == 3


def test_fill_memory_adds_carried_points_in_empty_cells_at_the_fresh_norm():
    from vo_app.pipeline.scale_chain import PairMemory, fill_memory

    fresh = PairMemory(np.array([[3.0, 3.0], [9.0, 3.0]]), np.array([2.0, 4.0]), np.array([0.1, 0.1]), 0.5, span=2)
    older = PairMemory(np.array([[3.4, 2.8], [15.0, 6.0], [30.0, 30.0]]), np.array([10.0, 20.0, 30.0]),
                       np.array([0.2, 0.3, 0.4]), 0.1, span=1)
    out = fill_memory(fresh, older, step=3)
    # (3.4, 2.8) shares the cell of (3, 3): the fresh point stays; the two others are added
    np.testing.assert_allclose(out.p, [[3.0, 3.0], [9.0, 3.0], [15.0, 6.0], [30.0, 30.0]])
    np.testing.assert_allclose(out.depth * out.scale, [1.0, 2.0, 2.0, 3.0])  # metric depths kept
    np.testing.assert_allclose(out.angle, [0.1, 0.1, 0.3, 0.4])
    assert out.scale == 0.5 and out.span == 2
    assert fill_memory(fresh, PairMemory(np.zeros((0, 2)), np.zeros(0), np.zeros(0), 1.0), 3) is fresh


# ------------------------------------------------------------------ RunOutput on its own
def _pose(x: float, yaw_deg: float = 0.0) -> np.ndarray:
    return geo.make_pose(geo.se3.so3_exp(np.array([0.0, np.radians(yaw_deg), 0.0])), np.array([x, 0.0, 0.0]))


def test_run_output_fills_gaps_and_writes_complete_rows(tmp_path):
    out = RunOutput(tmp_path, flush_seconds=0.0)
    rep = {"status": "running"}
    out.add(0.0, None)  # a corrupt first frame
    out.flush(rep)
    assert out.complete_rows() == 0 and not (tmp_path / "trajectory_kitti.txt").exists()
    assert load_report(tmp_path)["frames_written"] == 0
    out.add(0.1, _pose(0.0))
    out.add(0.2, None)
    out.add(0.3, None)
    out.flush(rep)
    _check_files(tmp_path, 2)  # rows 2 and 3 wait for the next pose
    out.add(0.4, _pose(3.0, 30.0))
    out.flush(rep)
    _check_files(tmp_path, 5)
    P = read_kitti(tmp_path / "trajectory_kitti.txt")
    np.testing.assert_allclose(P[0], _pose(0.0))  # leading gap: held from the first pose
    np.testing.assert_allclose(P[2], _pose(1.0, 10.0), atol=1e-12)
    np.testing.assert_allclose(P[3], _pose(2.0, 20.0), atol=1e-12)
    out.add(0.5, None)  # trailing corrupt frame: held at the end of the run
    out.flush(rep, force=True)
    _check_files(tmp_path, 6)
    np.testing.assert_allclose(read_kitti(tmp_path / "trajectory_kitti.txt")[5], _pose(3.0, 30.0))
    assert load_report(tmp_path)["filled_frames"] == {"0": "held", "2": "interpolated", "3": "interpolated",
                                                       "5": "held"}
    t, _ = read_tum(tmp_path / "trajectory_tum.txt")
    np.testing.assert_allclose(t, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])


def test_run_output_refuses_non_finite_poses_and_rate_limits(tmp_path):
    out = RunOutput(tmp_path, flush_seconds=3600.0)
    bad = np.eye(4)
    bad[0, 3] = np.nan
    with pytest.raises(ValueError):
        out.add(0.0, bad)
    out.add(0.0, np.eye(4))
    out.flush({}, force=True)
    out.add(0.1, np.eye(4))
    out.flush({})  # within flush_seconds of the last flush: not written
    _check_files(tmp_path, 1)
    out.flush({}, force=True)
    _check_files(tmp_path, 2)


def test_run_output_first_flush_is_not_delayed_by_the_clock_origin(tmp_path, monkeypatch):
    monkeypatch.setattr("vo_app.pipeline.output.time.monotonic", lambda: 5.0)  # 5 s after boot
    out = RunOutput(tmp_path, flush_seconds=10.0)
    out.add(0.0, np.eye(4))
    out.add(0.1, np.eye(4))
    out.flush({})
    _check_files(tmp_path, 2)


def test_exact_flow_gives_exact_poses(tmp_path):
    """With the renderer's exact flow (``vo_app.synth.flow.ExactFlow``) every step is posed to within
    1e-4 deg and 1e-3 deg of direction: the masks, sampling, RANSAC, refinement and triangulation
    add no error of their own (``benchmarks/rotation_bias.py``)."""
    import cv2

    from vo_app.synth import write_sequence
    from vo_app.synth.flow import ExactFlow

    root = write_sequence(tmp_path / "seq", layout="kitti", n_frames=8, width=416, height=128, motion="forward",
                          seed=1, write_flow=False)
    seq = open_sequence(root)
    rep = run_odometry(seq, load_config("demo"), tmp_path / "out", flow_net=ExactFlow(seq))
    assert all(p.get("fallback") is None for p in rep["pairs"])
    est, gt = read_kitti(tmp_path / "out" / "trajectory_kitti.txt"), seq.gt_poses
    for k in range(1, len(gt)):
        r_e, r_g = np.linalg.inv(est[k - 1]) @ est[k], np.linalg.inv(gt[k - 1]) @ gt[k]
        assert np.degrees(np.linalg.norm(cv2.Rodrigues(r_g[:3, :3].T @ r_e[:3, :3])[0])) < 1e-4
        cos = r_e[:3, 3] @ r_g[:3, 3] / (np.linalg.norm(r_e[:3, 3]) * np.linalg.norm(r_g[:3, 3]))
        assert np.degrees(np.arccos(min(1.0, cos))) < 1e-3


def test_rgbd_scale_in_the_window(handheld_tum_seq, tmp_path, run_cli):
    """``--scale rgbd --window N``: the depth images' step lengths enter the back end's window as factors
    (opt-in; without ``--window`` rgbd takes each pair's norm as it is).  The trajectory is metric without
    a scale alignment (SE(3)) and as accurate as the per-pair rgbd run's (measured: SE(3) 0.0008 of the
    path, Sim(3) 0.0007; the per-pair run 0.0010 / 0.0006)."""
    res = run_cli([handheld_tum_seq, "--config", "demo", "--scale", "rgbd", "--window", "4", "--quiet",
                   "--out", tmp_path])
    assert res.code == 0, res.err
    report = load_report(tmp_path)
    solves = report["window"]["keyframes"]
    assert report["window"]["failed"] == 0 and sum(a["source"] == "rgbd" for r in solves for a in r["absolute"]) >= 10
    seq = open_sequence(handheld_tum_seq)
    gt, est = np.asarray(seq.gt_poses), read_kitti(tmp_path / "trajectory_kitti.txt")
    assert ate(gt, est, align="se3")["rmse"] / path_length(gt) < 0.005
    assert relative_ate(seq, tmp_path) < 0.005
