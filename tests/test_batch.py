"""vo-batch on this machine and vo-eval summary: the table, a failing sequence, resume, thread pinning.

Tiny synthetic sequences (8 frames, 192x64, --size native) keep it to a few seconds plus one
process start per sequence.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from vo_app.cli.batching.threads import default_threads

FRAMES, SIZE = 8, (192, 64)
RUN_ARGS = "--size native"


def _render(root: Path, name: str, seed: int) -> Path:
    from vo_app.synth import write_sequence

    return write_sequence(root / name, layout="kitti", n_frames=FRAMES, width=SIZE[0], height=SIZE[1],
                          motion="forward", seed=seed, write_flow=False)


@pytest.fixture(scope="module")
def seqs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batch_seqs")
    a, b = _render(root, "seq_a", 0), _render(root, "seq_b", 1)
    nogt = root / "no_gt"  # the same frames without poses.txt: a sequence without ground truth
    shutil.copytree(a, nogt)
    (nogt / "poses.txt").unlink()
    return {"a": a, "b": b, "nogt": nogt, "missing": root / "not_there"}


def _batch(run_cli, *args):
    from vo_app.cli.batch import main

    return run_cli([*args, "--run-args", RUN_ARGS, "--quiet"], main=main)


def test_batch_table_failure_and_resume(run_cli, seqs, tmp_path):
    out = tmp_path / "out"
    res = _batch(run_cli, seqs["a"], seqs["b"], seqs["missing"], seqs["nogt"], "--out", out, "--workers", "2")
    assert res.code == 1, res.err  # one sequence failed; the others ran
    table = json.loads((out / "summary.json").read_text())
    rows = {r["sequence"]: r for r in table["rows"]}
    assert list(rows) == ["seq_a", "seq_b", "not_there", "no_gt"]
    for name in ("seq_a", "seq_b"):
        r = rows[name]
        assert r["status"] == "ok" and r["frames"] == FRAMES
        assert 0 <= r["ate_rmse_m"] < 0.2 * r["path_length_m"]
        assert r["kitti_segments"] and r["kitti_t_err_pct"] is not None and r["scale_drift_end"] > 0
        assert (out / name / "groundtruth_kitti.txt").exists()
    assert rows["not_there"]["status"] == "failed" and "not_there" in rows["not_there"]["note"]
    assert rows["no_gt"]["status"] == "no ground truth" and rows["no_gt"]["frames"] == FRAMES
    assert table["mean"]["ate_rmse_m"] == pytest.approx((rows["seq_a"]["ate_rmse_m"] + rows["seq_b"]["ate_rmse_m"]) / 2)
    md = (out / "summary.md").read_text()
    assert "| mean (2 with ground truth) |" in md and "KITTI segments" in md and "no ground truth" in md
    assert (out / "summary.csv").read_text().count("\n") == 1 + 4 + 1  # header, rows, mean
    assert "seq_a: complete" in res.err and "not_there: failed" in res.err
    # each of the 2 workers had its share of the cores, the same for every library
    n = default_threads(2)
    for name in ("seq_a", "seq_b"):
        log = (out / name / "vo-run.log").read_text()
        assert log.startswith("vo-run ") and "outputs:" in log
        assert f"threads: torch {n}, cv2 {n}, OMP_NUM_THREADS {n}, kernels {n}\n" in log

    # A killed batch: seq_b stopped part-way (report.json says running); run again into the same --out.
    rep = json.loads((out / "seq_b" / "report.json").read_text())
    rep["status"] = "running"
    (out / "seq_b" / "report.json").write_text(json.dumps(rep))
    traj_a = out / "seq_a" / "trajectory_kitti.txt"
    os.utime(traj_a, (1, 1))
    res2 = _batch(run_cli, seqs["a"], seqs["b"], seqs["missing"], seqs["nogt"], "--out", out, "--workers", "1")
    assert res2.code == 1
    assert "seq_a: complete already" in res2.err and "no_gt: complete already" in res2.err
    assert "seq_b: complete (" in res2.err  # run again
    assert traj_a.stat().st_mtime == 1  # not rewritten
    rows2 = {r["sequence"]: r for r in json.loads((out / "summary.json").read_text())["rows"]}
    assert rows2["seq_b"]["status"] == "ok" and rows2["seq_b"]["ate_rmse_m"] == rows["seq_b"]["ate_rmse_m"]


def test_summary_errors_and_table(run_cli, tmp_path):
    from vo_app.cli.eval import main

    res = run_cli(["summary", tmp_path / "nothing"], main=main)
    assert res.code == 2 and len(res.err_lines) == 1 and "nothing" in res.err
    (tmp_path / "empty").mkdir()
    res = run_cli(["summary", tmp_path / "empty"], main=main)
    assert res.code == 2 and "no run folders" in res.err


def test_run_args_and_patterns_are_checked(run_cli, seqs, tmp_path):
    from vo_app.cli.batch import main

    for args in (["--run-args", "--out x"], ["--run-args", "--no-such-option"]):
        res = run_cli([seqs["a"], "--out", tmp_path / "o", *args], main=main)
        assert res.code == 2 and len(res.err_lines) == 1, res.err
    res = run_cli([str(tmp_path / "zz*"), "--out", tmp_path / "o"], main=main)
    assert res.code == 2 and "matches nothing" in res.err


def test_a_killed_worker_fails_only_its_sequence(seqs, tmp_path):
    import signal

    from vo_app.cli.batching import make_jobs
    from vo_app.cli.batching.local import run_local

    jobs = make_jobs([str(seqs["a"]), str(seqs["b"])], tmp_path / "out", ("--size", "native"), threads=1)
    done, killed = [], []

    def on_event(kind, name, data):
        if kind == "start" and name == "seq_a":
            killed.append(data["pid"])
            os.kill(data["pid"], signal.SIGKILL)  # the out-of-memory killer, say
        if kind == "done":
            done.append(name)

    res = run_local(jobs, workers=1, on_event=on_event)
    assert res["seq_a"]["status"] == "failed" and "SIGKILL" in res["seq_a"]["error"]
    assert json.loads((tmp_path / "out" / "seq_a" / "error.json").read_text())["status"] == "failed"
    assert res["seq_b"]["status"] == "complete" and res["seq_b"]["pid"] not in killed
    assert sorted(done) == ["seq_a", "seq_b"]


def test_summary_of_plain_vo_run_folders(tmp_path):
    """A folder from plain vo-run (ground truth seen, no groundtruth_kitti.txt) is 'not scored', not 'no ground truth'."""
    from vo_app.eval.summary_table import summarize

    for name, acc in (("with_gt", {"ate_rmse_m": 0.1}), ("without_gt", None)):
        d = tmp_path / name
        d.mkdir()
        rep = {"status": "complete", "frames_written": 5}
        if acc:
            rep["accuracy"] = acc
        (d / "report.json").write_text(json.dumps(rep))
    rows = {r["sequence"]: r for r in summarize(tmp_path)["rows"]}
    assert rows["with_gt"]["status"] == "not scored" and "vo-eval traj" in rows["with_gt"]["note"]
    assert rows["without_gt"]["status"] == "no ground truth" and rows["without_gt"]["frames"] == 5
    assert summarize(tmp_path)["mean"] is None
