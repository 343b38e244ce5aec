"""KITTI segment metric: closed-form drift cases, a loop re-statement of the devkit, edge cases."""
from __future__ import annotations

import numpy as np
import pytest

from vo_app.eval.kitti_metric import (KITTI_LENGTHS, auto_lengths, kitti_metric, segment_errors, segment_pairs,
                                      trajectory_distances)


def straight_line(n: int, step: float = 1.0) -> np.ndarray:
    """``n`` poses driving along +z (camera frame: z forward), ``step`` metres apart."""
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, 2, 3] = step * np.arange(n)
    return poses


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def yaw_drift(n: int, rate: float, step: float = 1.0) -> np.ndarray:
    """Planar drive whose heading turns by ``rate`` rad per metre (yaw about y, the vertical axis)."""
    poses = np.tile(np.eye(4), (n, 1, 1))
    for i in range(1, n):
        poses[i, :3, :3] = rot_y(rate * step * i)
        poses[i, :3, 3] = poses[i - 1, :3, 3] + poses[i - 1, :3, :3] @ np.array([0.0, 0.0, step])
    return poses


def expected_segments(n: int, lengths, step_frames: int = 10, step_m: float = 1.0):
    """(first, last, L) for a uniform straight path: the end is the first frame *beyond* first + L."""
    out = []
    for a in range(0, n, step_frames):
        for L in lengths:
            b = a + int(np.floor(L / step_m)) + 1
            if b < n:
                out.append((a, b, L))
    return out


def devkit_loop(gt, est, lengths, step=10):
    """A literal, loop-by-loop re-statement of the devkit's calcSequenceErrors (for cross-checking)."""
    dist = [0.0]
    for i in range(1, len(gt)):
        dist.append(dist[-1] + float(np.linalg.norm(gt[i, :3, 3] - gt[i - 1, :3, 3])))
    t_errs, r_errs = [], []
    for first in range(0, len(gt), step):
        for L in lengths:
            last = next((i for i in range(first, len(gt)) if dist[i] > dist[first] + L), -1)
            if last == -1:
                continue
            dg = np.linalg.inv(gt[first]) @ gt[last]
            de = np.linalg.inv(est[first]) @ est[last]
            e = np.linalg.inv(de) @ dg
            d = 0.5 * (e[0, 0] + e[1, 1] + e[2, 2] - 1.0)
            r_errs.append(np.arccos(max(min(d, 1.0), -1.0)) / L)
            t_errs.append(np.linalg.norm(e[:3, 3]) / L)
    return 100 * np.mean(t_errs), np.degrees(np.mean(r_errs)) * 100


# ------------------------------------------------------------------ closed form
@pytest.mark.parametrize("s", [0.01, 0.05, -0.03])
def test_constant_scale_drift(s):
    n, lengths = 61, (5.0, 10.0, 20.0)
    gt = straight_line(n)
    est = gt.copy()
    est[:, :3, 3] *= 1.0 + s
    res = kitti_metric(gt, est, lengths)
    segs = expected_segments(n, lengths)
    assert res["n_segments"] == len(segs)
    # the error of a segment is |s| times its travelled distance (b - a metres), divided by the nominal L
    expected = 100.0 * abs(s) * np.mean([(b - a) / L for a, b, L in segs])
    assert res["t_err_pct"] == pytest.approx(expected, rel=1e-12)
    assert res["r_err_deg_per_100m"] == pytest.approx(0.0, abs=1e-9)
    for L in lengths:  # per length: |s| * (L + 1) / L
        assert res["per_length"][f"{L:g}"]["t_err_pct"] == pytest.approx(100 * abs(s) * (L + 1) / L, rel=1e-12)


def test_scale_drift_tends_to_s_percent_with_fine_steps():
    gt = straight_line(2001, step=0.01)  # 20 m in 1 cm steps: the end-frame overshoot is 1 cm
    est = gt.copy()
    est[:, :3, 3] *= 1.02
    res = kitti_metric(gt, est, (5.0, 10.0), step=10)
    assert res["t_err_pct"] == pytest.approx(2.0, rel=2e-3)


@pytest.mark.parametrize("rate_deg_per_m", [0.01, 0.1, 0.5])
def test_constant_heading_drift(rate_deg_per_m):
    n, lengths = 81, (10.0, 20.0, 40.0)
    rate = np.radians(rate_deg_per_m)
    gt = straight_line(n)
    est = yaw_drift(n, rate)
    res = kitti_metric(gt, est, lengths)
    segs = expected_segments(n, lengths)
    # the heading error over a segment is rate * (metres travelled) = rate * (b - a)
    expected = np.degrees(np.mean([rate * (b - a) / L for a, b, L in segs])) * 100.0
    assert res["r_err_deg_per_100m"] == pytest.approx(expected, rel=1e-9)
    assert res["t_err_pct"] > 0
    # the per-length rotation drift is rate * (L + 1) / L, in deg per 100 m
    for L in lengths:
        got = res["per_length"][f"{L:g}"]["r_err_deg_per_100m"]
        assert got == pytest.approx(rate_deg_per_m * 100 * (L + 1) / L, rel=1e-9)


def test_perfect_estimate_and_rigid_invariance():
    rng = np.random.default_rng(0)
    gt = yaw_drift(120, np.radians(0.3))
    assert kitti_metric(gt, gt, (10.0, 20.0))["t_err_pct"] == pytest.approx(0.0, abs=1e-9)
    est = yaw_drift(120, np.radians(0.35))
    est[:, :3, 3] *= 1.01
    T = np.eye(4)
    T[:3, :3] = rot_y(rng.uniform(-3, 3))
    T[:3, 3] = rng.normal(size=3) * 10
    a = kitti_metric(gt, est, (10.0, 20.0))
    b = kitti_metric(gt, T @ est, (10.0, 20.0))  # the metric only uses relative poses
    assert b["t_err_pct"] == pytest.approx(a["t_err_pct"], rel=1e-9)
    assert b["r_err_deg_per_100m"] == pytest.approx(a["r_err_deg_per_100m"], rel=1e-9)


def test_matches_a_loop_restatement_of_the_devkit():
    rng = np.random.default_rng(3)
    n = 150
    gt = yaw_drift(n, np.radians(0.4), step=0.9)
    est = gt.copy()
    for i in range(1, n):  # random-walk drift in rotation and translation
        est[i:, :3, 3] += rng.normal(scale=0.01, size=3)
        est[i:, :3, :3] = rot_y(rng.normal(scale=0.002)) @ est[i:, :3, :3]
    lengths = (10.0, 25.0, 50.0, 100.0)
    res = kitti_metric(gt, est, lengths, step=7)
    t_ref, r_ref = devkit_loop(gt, est, lengths, step=7)
    assert res["t_err_pct"] == pytest.approx(t_ref, rel=1e-9)
    assert res["r_err_deg_per_100m"] == pytest.approx(r_ref, rel=1e-9)


# ------------------------------------------------------------------ edges
def test_path_shorter_than_every_segment_is_nan():
    gt = straight_line(20)
    res = kitti_metric(gt, gt, KITTI_LENGTHS)
    assert res["n_segments"] == 0 and np.isnan(res["t_err_pct"]) and np.isnan(res["r_err_deg_per_100m"])
    assert segment_errors(gt, gt).shape == (0, 5)


def test_segments_start_every_step_frames():
    dist = trajectory_distances(straight_line(31))
    pairs = segment_pairs(dist, (5.0,), step=10)
    assert [(a, b) for a, b, _ in pairs] == [(0, 6), (10, 16), (20, 26)]
    assert dist[-1] == pytest.approx(30.0)


def test_auto_lengths():
    assert auto_lengths(250.0) == (100.0, 200.0)
    short = auto_lengths(60.0)
    assert short == (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0)
    assert len(auto_lengths(3.0)) == 8 and max(auto_lengths(3.0)) < 3.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        kitti_metric(straight_line(10), straight_line(11))
