"""A run's output folder: report fields, Ctrl-C, a second run into the same --out, file permissions."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from vo_app.io import open_sequence, read_kitti, read_tum
from vo_app.pipeline.config import load_config
from vo_app.pipeline.odometry import run_odometry
from vo_app.pipeline.output import RUN_FILES, remove_previous_run
from vo_app.viewer.ply import write_ply

from _seqkit import raise_at


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run_args(seq, out, *more):
    return [seq, "--config", "demo", "--scale", "triangulation", "--max-frames", "8", "--quiet", "--out", out, *more]


@pytest.fixture(scope="module")
def full_run(handheld_seq, tmp_path_factory):
    """``vo-run --save-ply`` on 8 frames with ground truth (``--eval``'s plots and eval.json are written
    by the same ``io/atomic.py``; left out to keep the test short)."""
    from vo_app.cli.run import main

    out = tmp_path_factory.mktemp("full") / "out"
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in _run_args(handheld_seq, out, "--save-ply")])
    assert info.value.code in (0, None)
    return out


def test_filled_frames_is_present_with_ground_truth(full_run):
    report = json.loads((full_run / "report.json").read_text())
    assert "accuracy" in report  # the report was rewritten after the run, with the accuracy
    assert report["filled_frames"] == {} and report["status"] == "complete"


def test_every_output_file_has_the_same_permissions(full_run):
    names = sorted(p.name for p in full_run.iterdir())
    assert names == ["map.ply", "report.json", "trajectory_kitti.txt", "trajectory_tum.txt"]  # no temporary file
    assert set(names) <= set(RUN_FILES)
    umask = os.umask(0)
    os.umask(umask)
    assert {_mode(full_run / n) for n in names} == {0o666 & ~umask}


def test_write_ply_gets_the_outputs_permissions(tmp_path):
    path = write_ply(tmp_path / "map.ply", np.zeros((3, 3)))
    assert _mode(path) == _mode(write_ply(tmp_path / "other.ply", np.ones((2, 3))))
    assert _mode(path) & 0o044  # readable by others like the trajectories, not 0600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_second_run_removes_the_previous_runs_files_only(full_run, handheld_seq, tmp_path, run_cli):
    out = tmp_path / "out"
    out.mkdir()
    for name in RUN_FILES:  # a previous run with --eval and --save-ply
        (out / name).write_bytes((full_run / name).read_bytes() if (full_run / name).exists() else b"old")
    (out / "notes.txt").write_text("mine\n")  # not vo-run's: stays
    (out / "vo-run.log").write_text("vo-batch's log\n")  # vo-batch's: stays
    (out / ".report.json.abc123.tmp").write_text("{")  # left by a killed run: goes
    res = run_cli(_run_args(handheld_seq, out))
    assert res.code == 0, res.err
    removed = [ln for ln in res.err_lines if "removed the previous run's" in ln]
    assert removed == [f"vo-run: removed the previous run's {', '.join(RUN_FILES)} from {out}"]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.json", "trajectory_kitti.txt",
                                                    "trajectory_tum.txt", "vo-run.log"]
    assert json.loads((out / "report.json").read_text())["frames_written"] == 8
    assert remove_previous_run(tmp_path / "missing") == []


def test_ctrl_c_marks_the_report_interrupted_and_keeps_valid_files(handheld_seq, tmp_path):
    seq = raise_at(open_sequence(handheld_seq), 6, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_odometry(seq, load_config("demo", scale="triangulation", flush_seconds=60.0), tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted" and "error" not in report
    assert report["frames_written"] == 6 and len(report["pairs"]) == 5  # written at the interruption
    kitti = read_kitti(tmp_path / "trajectory_kitti.txt")
    _, tum = read_tum(tmp_path / "trajectory_tum.txt")
    assert len(kitti) == len(tum) == 6 and np.isfinite(kitti).all()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_error_mid_run_marks_the_report_failed(handheld_seq, tmp_path):
    seq = raise_at(open_sequence(handheld_seq), 4, OSError("disk gone"))
    with pytest.raises(OSError):
        run_odometry(seq, load_config("demo", scale="triangulation"), tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "failed" and report["error"] == "disk gone" and report["frames_written"] == 4
