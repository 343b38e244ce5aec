"""Scale drift (vo_app.eval.drift) and its rows, JSON keys and plot in ``vo-eval traj``."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from vo_app.cli.eval import main as eval_main
from vo_app.eval import evaluate_pair, format_table, json_ready, paths_from_poses, scale_drift
from vo_app.io.trajectory import write_kitti

from test_eval import _rot  # noqa: E402  (the rotation helper of the trajectory tests)




def drive(n: int = 101) -> np.ndarray:
    """``[n, 4, 4]`` a gently turning drive at 1 m/frame."""
    poses = np.tile(np.eye(4), (n, 1, 1))
    for i in range(1, n):
        poses[i, :3, :3] = _rot(1, 0.01 * i)
        poses[i, :3, 3] = poses[i - 1, :3, 3] + poses[i - 1, :3, :3] @ np.array([0.0, 0.0, 1.0])
    return poses


def with_step_factors(poses: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``poses`` with each consecutive step's translation multiplied by ``factors [n-1]``."""
    out = poses.copy()
    steps = np.diff(poses[:, :3, 3], axis=0) * np.asarray(factors)[:, None]
    out[1:, :3, 3] = poses[0, :3, 3] + np.cumsum(steps, axis=0)
    return out


def sim3(poses: np.ndarray, s: float = 0.37) -> np.ndarray:
    S = np.eye(4)
    S[:3, :3] = _rot(2, 0.3) @ _rot(0, -0.7)
    S[:3, 3] = [4.0, -2.0, 7.0]
    out = S @ poses
    out[:, :3, 3] *= s
    return out


# ------------------------------------------------------------------ the library function
def test_steps_shrinking_to_half_drift_to_half():
    gt = drive()
    est = sim3(with_step_factors(gt, np.linspace(1.0, 0.5, len(gt) - 1)))
    d = scale_drift(gt[:, :3, 3], est[:, :3, 3])
    # normalised by the median of the first 10 steps (~0.977 of the first): the end is 0.5 / 0.977
    assert d["end"] == pytest.approx(0.5, abs=0.03)
    assert d["worst"] == pytest.approx(-0.5, abs=0.03) and d["worst"] < 0
    assert d["worst_frame"] >= len(gt) - 3
    assert d["start_ratio"] == pytest.approx(0.37, rel=0.03)  # the estimate's own scale
    assert len(d["per_step"]) == len(gt) - 1 and all(v is not None for v in d["per_step"])
    assert np.all(np.diff(d["per_step"]) <= 1e-12)  # monotone, as the steps are
    for key in ("end", "worst", "worst_frame", "normalisation", "per_step"):
        assert key in d


def test_exact_copy_and_similarity_have_no_drift():
    gt = drive()
    for est in (gt.copy(), sim3(gt, 2.5)):
        d = scale_drift(gt[:, :3, 3], est[:, :3, 3])
        assert d["end"] == pytest.approx(1.0, abs=1e-9)
        assert d["worst"] == pytest.approx(0.0, abs=1e-9)
        assert d["n_skipped"] == 0
        np.testing.assert_allclose(d["per_step"], 1.0, atol=1e-6)


def test_stationary_segment_is_skipped_without_nan():
    gt = drive(81)
    gt[40:60] = gt[40]  # the camera stands still for 20 steps (frames 40..59) ...
    gt[60:, :3, 3] -= gt[60, :3, 3] - gt[40, :3, 3]  # ... and then drives on: steps 40..59 are zero
    est = gt.copy()
    est[:, :3, 3] += np.random.default_rng(0).normal(scale=1e-4, size=(len(gt), 3))  # jitter while standing
    d = scale_drift(gt[:, :3, 3], est[:, :3, 3])
    assert d["n_skipped"] == 20 and d["n_moving"] == 60
    assert all(d["per_step"][k] is None for k in range(40, 60))
    assert all(d["per_step"][k] is not None for k in list(range(40)) + list(range(60, 80)))
    assert np.isfinite([d["end"], d["worst"]]).all()
    assert d["end"] == pytest.approx(1.0, abs=1e-3) and abs(d["worst"]) < 1e-3
    json.dumps(d, allow_nan=False)  # null for skipped steps, never NaN


def test_held_poses_count_with_the_next_step_that_moves():
    gt = drive()
    est = sim3(gt, 3.0)
    est[1:40:2] = est[0:39:2]  # vo-run's no_motion fallback: a frame keeps the previous pose ...
    est[50:54] = est[49]  # ... or several in a row; the next step covers the motion
    d = scale_drift(gt[:, :3, 3], est[:, :3, 3])
    assert d["n_held"] == 20 + 4 and d["n_moving"] == len(gt) - 1 - 24
    # a merged step compares the estimate's chord with the ground truth's path: equal up to the curvature
    assert d["end"] == pytest.approx(1.0, abs=1e-4) and d["worst"] == pytest.approx(0.0, abs=1e-4)
    assert d["per_step"][0] is None and d["per_step"][1] == pytest.approx(1.0)


def test_no_moving_step_gives_nothing_rather_than_nan():
    gt = np.tile(np.eye(4), (10, 1, 1))
    d = scale_drift(gt[:, :3, 3], gt[:, :3, 3])
    assert d["end"] is None and d["worst"] is None and d["worst_frame"] is None
    assert d["per_step"] == [None] * 9 and "undefined" in d["normalisation"]
    json.dumps(d, allow_nan=False)
    # an estimate that does not move while the ground truth does: no start to normalise to
    d = scale_drift(drive(20)[:, :3, 3], np.zeros((20, 3)))
    assert d["end"] is None and "undefined" in d["normalisation"]


def test_from_frame_measures_against_the_steps_after_an_unmeasured_start():
    # ground truth whose first 15 steps are too long by 1.25 (a stretch it did not measure), an estimate
    # with the true steps: from frame 0 the start is 0.8 and the drift ends at 1.25; from frame 15 it is flat
    gt = drive()
    factors = np.ones(len(gt) - 1)
    factors[:15] = 1.25
    bad_gt = with_step_factors(gt, factors)
    est = sim3(gt)
    d0 = scale_drift(bad_gt[:, :3, 3], est[:, :3, 3])
    d15 = scale_drift(bad_gt[:, :3, 3], est[:, :3, 3], from_frame=15)
    assert d0["end"] == pytest.approx(1.25, rel=1e-6) and d0["from_frame"] == 0
    assert d15["end"] == pytest.approx(1.0, abs=1e-9) and d15["worst"] == pytest.approx(0.0, abs=1e-9)
    assert d15["from_frame"] == 15 and "after frame 15" in d15["normalisation"]
    assert d15["per_step"][:15] == [None] * 15 and d15["per_step"][15] is not None
    assert d15["n_moving"] + d15["n_skipped"] == len(gt) - 1 - 15
    with pytest.raises(ValueError, match="from_frame"):
        scale_drift(gt[:, :3, 3], est[:, :3, 3], from_frame=len(gt) - 1)


def slow_end_drive() -> tuple[np.ndarray, np.ndarray]:
    """A drive of 60 steps of 1 m, then 40 steps of 6 cm (over the stationary threshold of 5 cm), and
    an estimate with the true fast steps and the slow ones 30 % too long."""
    gt = drive()
    factors = np.ones(len(gt) - 1)
    factors[60:] = 0.06
    slow_gt = with_step_factors(gt, factors)
    est_factors = np.ones(len(gt) - 1)
    est_factors[60:] = 1.3
    return slow_gt, sim3(with_step_factors(slow_gt, est_factors))


def test_steps_outside_the_band_are_counted_by_their_ground_truth_length():
    gt, est = slow_end_drive()
    d = scale_drift(gt[:, :3, 3], est[:, :3, 3])
    classes = {(c["min_m"], c["max_m"]): c for c in d["by_step_length"]}
    assert list(classes) == [(0.0, 0.05), (0.05, 0.1), (0.1, 0.3), (0.3, None)]
    fast, slow = classes[(0.3, None)], classes[(0.05, 0.1)]
    assert (fast["steps"], fast["outside"]) == (60, 0) and abs(fast["worst"]) < 1e-9
    assert (slow["steps"], slow["outside"]) == (40, 40) and slow["worst"] == pytest.approx(0.3, rel=1e-6)
    assert classes[(0.0, 0.05)]["steps"] == 0 and classes[(0.0, 0.05)]["worst"] is None
    assert sum(c["steps"] for c in classes.values()) == d["n_moving"]
    json.dumps(d, allow_nan=False)


def test_cli_prints_the_steps_outside_the_band_by_step_length(tmp_path, run_cli):
    gt, est = slow_end_drive()
    write_kitti(tmp_path / "gt.txt", gt)
    write_kitti(tmp_path / "est.txt", est)
    res = run_cli(["traj", "--gt", tmp_path / "gt.txt", "--est", tmp_path / "est.txt"], main=eval_main)
    assert res.code == 0, res.err
    prefix = "scale drift outside +-5%, GT step "
    rows = {ln.split(" m ")[0][len(prefix):]: ln.split()[-1] for ln in res.out.splitlines() if ln.startswith(prefix)}
    assert rows == {"<0.05": "0/0", "0.05-0.1": "40/40", "0.1-0.3": "0/0", ">=0.3": "0/60"}


def test_cli_drift_from_changes_the_start_and_rejects_a_frame_past_the_end(tmp_path, run_cli):
    gt = drive()
    factors = np.ones(len(gt) - 1)
    factors[:15] = 1.25
    write_kitti(tmp_path / "gt.txt", with_step_factors(gt, factors))
    write_kitti(tmp_path / "est.txt", sim3(gt))
    base = ["traj", "--gt", tmp_path / "gt.txt", "--est", tmp_path / "est.txt"]
    rows = {}
    for frm in (0, 15):
        res = run_cli(base + ["--drift-from", frm], main=eval_main)
        assert res.code == 0, res.err
        rows[frm] = next(ln for ln in res.out.splitlines() if ln.startswith("scale drift at end"))
    assert "start = 1" in rows[0] and float(rows[0].split()[-1]) == pytest.approx(1.25, abs=1e-3)
    assert "frame 15 on = 1" in rows[15] and float(rows[15].split()[-1]) == pytest.approx(1.0, abs=1e-3)
    res = run_cli(base + ["--drift-from", len(gt) - 1], main=eval_main)
    assert res.code == 2 and "--drift-from" in res.err and "gt.txt" in res.err
    assert "Traceback" not in res.err and len(res.err.strip().splitlines()) == 1


def test_evaluate_pair_drift_does_not_depend_on_the_alignment():
    gt = drive()
    est = sim3(with_step_factors(gt, np.linspace(1.0, 0.8, len(gt) - 1)))
    res = {a: evaluate_pair(paths_from_poses(gt, est), align=a, lengths=(10.0, 20.0)) for a in ("sim3", "none")}
    assert res["sim3"]["drift"]["end"] == pytest.approx(res["none"]["drift"]["end"], rel=1e-9)
    assert res["sim3"]["drift"]["end"] == pytest.approx(0.8, abs=0.03)
    table = format_table({"est": res["sim3"]})
    assert "scale drift at end [ratio, start = 1]" in table and "scale drift worst [r-1]" in table
    json.dumps(json_ready(res["sim3"]), allow_nan=False)


# ------------------------------------------------------------------ vo-eval traj
def test_cli_prints_rows_and_writes_the_plot_and_json(tmp_path, run_cli):
    gt = drive()
    write_kitti(tmp_path / "gt.txt", gt)
    write_kitti(tmp_path / "est.txt", sim3(with_step_factors(gt, np.linspace(1.0, 0.5, len(gt) - 1))))
    write_kitti(tmp_path / "same.txt", gt)
    plots, out = tmp_path / "plots", tmp_path / "e.json"
    res = run_cli(["traj", "--gt", tmp_path / "gt.txt", "--est", tmp_path / "est.txt", "--est", tmp_path / "same.txt",
                   "--plots", plots, "--json", out], main=eval_main)
    assert res.code == 0, res.err
    end_row = next(ln for ln in res.out.splitlines() if ln.startswith("scale drift at end"))
    worst_row = next(ln for ln in res.out.splitlines() if ln.startswith("scale drift worst"))
    assert float(end_row.split()[-2]) == pytest.approx(0.5, abs=0.03)
    assert float(end_row.split()[-1]) == pytest.approx(1.0)
    worst, frame = re.findall(r"([-+]\d\.\d+) \(frame (\d+)\)", worst_row)[0]
    assert float(worst) == pytest.approx(-0.5, abs=0.03) and int(frame) >= len(gt) - 3
    png = plots / "scale_drift.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(out.read_text())
    d = doc["results"]["est"]["drift"]
    assert {"end", "worst", "worst_frame", "normalisation", "per_step"} <= set(d)
    assert len(d["per_step"]) == len(gt) - 1 and d["end"] == pytest.approx(0.5, abs=0.03)
    assert doc["results"]["same"]["drift"]["worst"] == pytest.approx(0.0, abs=1e-9)
