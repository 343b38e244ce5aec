"""``vo-eval traj`` on a partial run: KITTI rows by index (start/stride, report.json, first rows), TUM by time."""
from __future__ import annotations

import json
import numpy as np
import pytest

from vo_app.cli.eval import main as eval_main
from vo_app.io.trajectory import read_kitti, write_kitti, write_tum

from test_eval import make_trajectories  # noqa: E402  (the trajectory pair of the vo-eval tests)


def _eval(run_cli, tmp_path, *args) -> dict:
    """The one estimate's result of ``vo-eval traj ARGS --json``."""
    out = tmp_path / "eval.json"
    res = run_cli(["traj", *args, "--json", out], main=eval_main)
    assert res.code == 0, res.err
    (result,) = json.loads(out.read_text())["results"].values()
    return result


@pytest.fixture(scope="module")
def traj(tmp_path_factory):
    d = tmp_path_factory.mktemp("partial")
    gt, est = make_trajectories(n=60)
    write_kitti(d / "gt.txt", gt)
    return d, gt, est


@pytest.mark.parametrize("start,stride", [(0, 1), (7, 1), (5, 3)])
def test_kitti_rows_by_start_and_stride_equal_the_cut_ground_truth(traj, tmp_path, run_cli, start, stride):
    d, gt, est = traj
    rows = np.arange(start, 60, stride)[:15]
    write_kitti(tmp_path / "run.txt", est[rows])
    write_kitti(tmp_path / "gt_cut.txt", gt[rows])
    args = [] if (start, stride) == (0, 1) else ["--start", start, "--stride", stride]
    r = _eval(run_cli, tmp_path, "--gt", d / "gt.txt", "--est", tmp_path / "run.txt", *args)
    cut = _eval(run_cli, tmp_path, "--gt", tmp_path / "gt_cut.txt", "--est", tmp_path / "run.txt")
    assert r["n_poses"] == 15 and r["gt_poses_total"] == 60 and cut["gt_poses_total"] == 15
    assert r["ate_m"]["rmse"] == pytest.approx(cut["ate_m"]["rmse"], rel=1e-9)
    assert r["path_length_m"] == pytest.approx(cut["path_length_m"], rel=1e-9)
    assert r["gt_used"].startswith(f"rows {start}-{rows[-1]}")


def test_the_note_names_the_rows_used(traj, tmp_path, run_cli):
    d, gt, est = traj
    write_kitti(tmp_path / "run.txt", est[4:40:2][:10])
    res = run_cli(["traj", "--gt", d / "gt.txt", "--est", tmp_path / "run.txt", "--start", 4, "--stride", 2],
                  main=eval_main)
    assert res.code == 0, res.err
    assert "run: 10 of 60 ground-truth poses used (rows 4-22 step 2, by --start/--stride)" in res.err
    assert "10 of 60 GT (by rows)" in res.out
    write_kitti(tmp_path / "first.txt", est[:10])
    res = run_cli(["traj", "--gt", d / "gt.txt", "--est", tmp_path / "first.txt"], main=eval_main)
    assert res.code == 0 and "10 of 60 ground-truth poses used (rows 0-9, the first ones" in res.err


def test_report_json_beside_the_run_gives_the_rows(traj, tmp_path, run_cli):
    d, gt, est = traj
    run = tmp_path / "run"
    run.mkdir()
    rows = [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    write_kitti(run / "trajectory_kitti.txt", est[rows])
    (run / "report.json").write_text(json.dumps({"frames": 10, "source_indices": rows}))
    r = _eval(run_cli, tmp_path, "--gt", d / "gt.txt", "--est", run / "trajectory_kitti.txt")
    write_kitti(tmp_path / "gt_cut.txt", gt[rows])
    cut = _eval(run_cli, tmp_path, "--gt", tmp_path / "gt_cut.txt", "--est", run / "trajectory_kitti.txt")
    assert r["gt_used"] == "rows 3-30 step 3, by report.json"
    assert r["ate_m"]["rmse"] == pytest.approx(cut["ate_m"]["rmse"], rel=1e-9)
    # explicit options win over the report
    r2 = _eval(run_cli, tmp_path, "--gt", d / "gt.txt", "--est", run / "trajectory_kitti.txt",
                  "--start", 0)
    assert r2["gt_used"].startswith("rows 0-9")


@pytest.mark.parametrize("case", ["longer", "past_end"])
def test_rows_past_the_ground_truth_are_a_one_line_error(traj, tmp_path, run_cli, case):
    d, gt, est = traj
    if case == "longer":
        write_kitti(tmp_path / "short_gt.txt", gt[:10])
        args = ["--gt", tmp_path / "short_gt.txt", "--est", tmp_path / "run.txt"]
        write_kitti(tmp_path / "run.txt", est[:20])
    else:
        write_kitti(tmp_path / "run.txt", est[:20])
        args = ["--gt", d / "gt.txt", "--est", tmp_path / "run.txt", "--start", 30, "--stride", 2]
    res = run_cli(["traj", *args], main=eval_main)
    assert res.code == 2 and len(res.err_lines) == 1 and "Traceback" not in res.err
    line = res.err_lines[0]
    assert str(tmp_path / "run.txt") in line and "ground-truth row" in line and "TUM" not in line


def test_tum_partial_run_is_matched_by_timestamp(traj, tmp_path, run_cli):
    d, gt, est = traj
    t = 50.0 + 0.1 * np.arange(60)
    write_tum(tmp_path / "gt.tum", t, gt)
    write_tum(tmp_path / "run.tum", t[10:40:2], est[10:40:2])
    write_kitti(tmp_path / "gt_cut.txt", gt[10:40:2])
    write_kitti(tmp_path / "run.txt", est[10:40:2])
    r = _eval(run_cli, tmp_path, "--gt", tmp_path / "gt.tum", "--est", tmp_path / "run.tum")
    cut = _eval(run_cli, tmp_path, "--gt", tmp_path / "gt_cut.txt", "--est", tmp_path / "run.txt")
    assert r["matched_by"] == "timestamps" and r["n_poses"] == 15 and r["gt_poses_total"] == 60
    assert r["gt_used"] == "matched by timestamp"
    assert r["ate_m"]["rmse"] == pytest.approx(cut["ate_m"]["rmse"], rel=1e-6)
    res = run_cli(["traj", "--gt", tmp_path / "gt.tum", "--est", tmp_path / "run.tum", "--start", 10], main=eval_main)
    assert res.code == 0 and "(matched by timestamp); --start/--stride apply to row matching only" in res.err


def test_vo_run_max_frames_run_against_the_full_poses_file(tmp_path, run_cli):
    """A real partial vo-run (synthetic KITTI layout) is scored against the sequence's whole poses.txt."""
    from vo_app.synth import write_sequence

    seq = write_sequence(tmp_path / "seq", layout="kitti", n_frames=14, width=208, height=64, motion="forward",
                         seed=0, write_flow=False)
    out = tmp_path / "out"
    res = run_cli([seq, "--out", out, "--config", "demo", "--quiet", "--start", 2, "--stride", 2, "--max-frames", 5,
                   "--eval"])
    assert res.code == 0, res.err
    (own,) = json.loads((out / "eval.json").read_text())["results"].values()  # vo-run --eval: the frames it ran
    assert own["gt_used"] == "frames 2-10 step 2" and own["n_poses"] == 5
    n_gt = len(read_kitti(seq / "poses.txt"))
    assert n_gt == 14 and len(read_kitti(out / "trajectory_kitti.txt")) == 5
    r = _eval(run_cli, tmp_path, "--gt", seq / "poses.txt", "--est", out / "trajectory_kitti.txt",
                      "--start", 2, "--stride", 2)
    assert r["n_poses"] == 5 and r["gt_poses_total"] == 14 and r["gt_used"].startswith("rows 2-10 step 2")
    assert r["ate_m"]["rmse"] < 0.05 * r["path_length_m"]
    assert r["ate_m"]["rmse"] == pytest.approx(own["ate_m"]["rmse"], rel=1e-9)  # the same poses as vo-run's
    # Without --start/--stride the rows come from the run's report.json (source_indices), with the same result.
    auto = _eval(run_cli, tmp_path, "--gt", seq / "poses.txt", "--est", out / "trajectory_kitti.txt")
    assert json.loads((out / "report.json").read_text())["source_indices"] == [2, 4, 6, 8, 10]
    assert auto["gt_used"].startswith("rows 2-10 step 2")
    assert auto["ate_m"]["rmse"] == pytest.approx(own["ate_m"]["rmse"], rel=1e-9)
