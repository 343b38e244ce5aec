"""``vo-eval traj`` and ``vo-run --eval``: agreement with the evo CLI, tables, JSON, plots, user errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vo_app.cli.eval import main as eval_main
from vo_app.io.trajectory import read_kitti, write_kitti, write_tum

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
KITTI06 = REPO.parent / "shared" / "data" / "kitti06_0000-0050"


def _rot(axis: int, a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def make_trajectories(n: int = 60, seed: int = 0):
    """GT: a gently turning, slightly hilly drive; estimate: GT with drift, then a Sim(3) change of frame."""
    rng = np.random.default_rng(seed)
    gt = np.tile(np.eye(4), (n, 1, 1))
    for i in range(1, n):
        gt[i, :3, :3] = _rot(1, 0.02 * i) @ _rot(0, 0.01 * np.sin(i / 7))
        gt[i, :3, 3] = gt[i - 1, :3, 3] + gt[i - 1, :3, :3] @ np.array([0.0, 0.02 * np.sin(i / 5), 1.0])
    est = gt.copy()
    for i in range(1, n):
        est[i:, :3, 3] += rng.normal(scale=0.03, size=3)
        est[i:, :3, :3] = _rot(1, rng.normal(scale=0.003)) @ est[i:, :3, :3]
    S = np.eye(4)
    S[:3, :3] = _rot(2, 0.3) @ _rot(1, -0.7)
    S[:3, 3] = [4.0, -2.0, 7.0]
    est = S @ est
    est[:, :3, 3] *= 0.37  # a monocular run: arbitrary scale
    return gt, est


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("traj")
    gt, est = make_trajectories()
    _, est2 = make_trajectories(seed=1)
    write_kitti(d / "gt.txt", gt)
    write_kitti(d / "est.txt", est)
    write_kitti(d / "est2.txt", est2)
    t = 1000.0 + 0.1 * np.arange(len(gt))
    write_tum(d / "gt_tum.txt", t, gt)
    write_tum(d / "est_tum.txt", t[5:] + 0.003, est[5:])  # starts later, stamps 3 ms off
    return d


def evo_cli(workdir: Path, tool: str, *args) -> dict:
    """Run ``evo_ape``/``evo_rpe`` and return the statistics it saved (full precision)."""
    exe = BIN / tool
    if not exe.exists():
        pytest.skip(f"{tool} not installed next to {sys.executable}")
    res_zip = Path(workdir) / f"{tool}-results.zip"
    res_zip.unlink(missing_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([str(exe), *map(str, args), "--save_results", str(res_zip), "--no_warnings"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=workdir)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    with zipfile.ZipFile(res_zip) as z:
        return json.loads(z.read("stats.json"))


def vo_eval_json(run_cli, tmp_path, *args) -> dict:
    out = tmp_path / "eval.json"
    res = run_cli(["traj", *args, "--json", out], main=eval_main)
    assert res.code == 0, res.err
    return json.loads(out.read_text())


def assert_stats_equal(ours: dict, theirs: dict, keys=("rmse", "mean", "median", "max")):
    for k in keys:
        assert ours[k] == pytest.approx(theirs[k], abs=1e-6, rel=0), k


# ------------------------------------------------------------------ evo agreement
@pytest.mark.parametrize("align,flags", [("sim3", ["-as"]), ("se3", ["-a"]), ("scale", ["-s"]), ("none", [])])
def test_ate_and_rpe_match_the_evo_cli(files, tmp_path, run_cli, align, flags):
    gt, est = files / "gt.txt", files / "est.txt"
    doc = vo_eval_json(run_cli, tmp_path, "--gt", gt, "--est", est, "--align", align, "--delta-m", 10)
    r = doc["results"]["est"]
    assert r["align"] == align
    assert_stats_equal(r["ate_m"], evo_cli(tmp_path, "evo_ape", "kitti", gt, est, *flags))
    if align not in ("sim3", "se3"):
        return  # RPE: checked for the two alignments a monocular run uses

    def rpe(*more):
        return evo_cli(tmp_path, "evo_rpe", "kitti", gt, est, *flags, *more)

    assert_stats_equal(r["rpe_frame"]["trans_m"], rpe())
    assert_stats_equal(r["rpe_frame"]["rot_deg"], rpe("-r", "angle_deg"))
    assert_stats_equal(r["rpe_dist"]["trans_m"], rpe("-d", "10", "-u", "m"))
    assert_stats_equal(r["rpe_dist"]["rot_deg"], rpe("-d", "10", "-u", "m", "-r", "angle_deg"))


def test_tum_files_are_associated_by_timestamp_like_evo(files, tmp_path, run_cli):
    gt, est = files / "gt_tum.txt", files / "est_tum.txt"
    doc = vo_eval_json(run_cli, tmp_path, "--gt", gt, "--est", est)
    r = doc["results"]["est_tum"]
    assert r["matched_by"] == "timestamps" and r["n_poses"] == 55
    assert_stats_equal(r["ate_m"], evo_cli(tmp_path, "evo_ape", "tum", gt, est, "-as"))
    assert_stats_equal(r["rpe_frame"]["trans_m"], evo_cli(tmp_path, "evo_rpe", "tum", gt, est, "-as"))


def test_sim3_alignment_recovers_the_scale(files, tmp_path, run_cli):
    doc = vo_eval_json(run_cli, tmp_path, "--gt", files / "gt.txt", "--est", files / "est.txt")
    r = doc["results"]["est"]
    assert r["scale"] == pytest.approx(1 / 0.37, rel=0.05)
    assert r["ate_m"]["rmse"] < 0.5
    assert np.isfinite(r["kitti"]["t_err_pct"]) and r["kitti"]["n_segments"] > 0


# ------------------------------------------------------------------ table, json, plots
def test_several_estimates_side_by_side_with_plots(files, tmp_path, run_cli):
    plots = tmp_path / "plots"
    res = run_cli(["traj", "--gt", files / "gt.txt", "--est", files / "est.txt", "--est", files / "est2.txt",
                   "--segments", "5,10,20", "--plots", plots, "--json", tmp_path / "e.json"], main=eval_main)
    assert res.code == 0, res.err
    header = res.out.splitlines()[0].split()
    assert header == ["metric", "est", "est2"]
    for row in ("ATE rmse [m]", "RPE trans rmse [m] (1 frame)", "RPE rot rmse [deg] (10 m)",
                "KITTI t_err [%] (5-20 m)", "KITTI r_err [deg/100m] (5-20 m)"):
        assert row in res.out
    doc = json.loads((tmp_path / "e.json").read_text())
    assert set(doc["results"]) == {"est", "est2"}
    assert doc["results"]["est"]["kitti"]["lengths"] == [5.0, 10.0, 20.0]
    pngs = sorted(p.name for p in plots.iterdir())
    assert pngs == ["est2_errors.png", "est2_top.png", "est_errors.png", "est_top.png", "scale_drift.png"]
    for p in plots.iterdir():
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 300_000


def test_same_file_names_get_distinct_labels(files, tmp_path, run_cli):
    for k in ("a", "b"):
        (tmp_path / k).mkdir()
        shutil.copy(files / "est.txt", tmp_path / k / "trajectory_kitti.txt")
    res = run_cli(["traj", "--gt", files / "gt.txt", "--est", tmp_path / "a" / "trajectory_kitti.txt",
                   "--est", tmp_path / "b" / "trajectory_kitti.txt"], main=eval_main)
    assert res.code == 0, res.err
    assert res.out.splitlines()[0].split()[1:] == ["a/trajectory_kitti", "b/trajectory_kitti"]


def test_short_path_kitti_lengths_are_not_applicable(files, run_cli):
    res = run_cli(["traj", "--gt", files / "gt.txt", "--est", files / "est.txt", "--segments", "kitti"],
                  main=eval_main)
    assert res.code == 0
    line = next(ln for ln in res.out.splitlines() if ln.startswith("KITTI t_err"))
    assert "100-800 m" in line and line.split()[-1] == "n/a"


# ------------------------------------------------------------------ user errors
@pytest.mark.parametrize("case", ["missing", "rows", "segments", "garbage"])
def test_user_errors_are_one_line_exit_2(files, tmp_path, run_cli, case):
    gt, est = files / "gt.txt", files / "est.txt"
    args = ["traj", "--gt", gt, "--est", est]
    if case == "missing":
        args[4] = tmp_path / "nope.txt"
    elif case == "rows":  # an estimate longer than its ground truth (a shorter one is a partial run)
        write_kitti(tmp_path / "long.txt", np.concatenate([read_kitti(est)] * 2))
        args[4] = tmp_path / "long.txt"
    elif case == "segments":
        args += ["--segments", "5,x"]
    else:
        (tmp_path / "bad.txt").write_text("1 2 3\n")
        args[4] = tmp_path / "bad.txt"
    res = run_cli(args, main=eval_main)
    assert res.code == 2
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("vo-eval: error: ")
    assert "Traceback" not in res.err
    if case in ("missing", "rows", "garbage"):
        assert str(args[4]) in res.err_lines[0]


def test_flow_subcommand_rejects_extra_arguments(run_cli):  # vo-eval flow exists now (tests/test_eval_flow.py)
    res = run_cli(["flow", "anything"], main=eval_main)
    assert res.code == 2 and len(res.err_lines) == 1 and res.err_lines[0].startswith("vo-eval: error: ")


# ------------------------------------------------------------------ vo-run --eval and evo on our files
@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    from vo_app.synth import write_sequence

    d = tmp_path_factory.mktemp("evalrun")
    seq = write_sequence(d / "seq", layout="kitti", n_frames=12, width=208, height=64, motion="forward", seed=0,
                         write_flow=False)
    out = d / "out"
    proc = subprocess.run([sys.executable, "-m", "vo_app.cli.run", str(seq), "--out", str(out), "--config", "demo",
                           "--quiet", "--eval"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return seq, out, proc


def test_vo_run_eval_prints_the_table_and_saves_plots(synth_run, tmp_path, run_cli):
    seq, out, proc = synth_run
    assert "ATE rmse [m]" in proc.stdout and "KITTI t_err [%]" in proc.stdout
    assert "scale drift at end" in proc.stdout and "scale drift worst [r-1]" in proc.stdout
    for name in ("eval.json", "trajectory_top.png", "trajectory_errors.png", "scale_drift.png"):
        assert (out / name).is_file(), name
    ours = json.loads((out / "eval.json").read_text())["results"]
    run_numbers = next(iter(ours.values()))
    doc = vo_eval_json(run_cli, tmp_path, "--gt", seq / "poses.txt", "--est", out / "trajectory_kitti.txt")
    standalone = doc["results"]["trajectory_kitti"]
    assert run_numbers["ate_m"]["rmse"] == pytest.approx(standalone["ate_m"]["rmse"], abs=1e-12)
    assert run_numbers["kitti"]["t_err_pct"] == pytest.approx(standalone["kitti"]["t_err_pct"], abs=1e-12)
    assert run_numbers["drift"]["end"] == pytest.approx(standalone["drift"]["end"], abs=1e-12)


def test_evo_tools_read_the_written_trajectories(synth_run):
    seq, out, _ = synth_run
    env = dict(os.environ, MPLBACKEND="Agg")
    for tool, args in (("evo_traj", ["kitti", out / "trajectory_kitti.txt"]),
                       ("evo_traj", ["tum", out / "trajectory_tum.txt"]),
                       ("evo_ape", ["kitti", seq / "poses.txt", out / "trajectory_kitti.txt", "-as"])):
        exe = BIN / tool
        if not exe.exists():
            pytest.skip(f"{tool} not installed")
        proc = subprocess.run([str(exe), *map(str, args), "--no_warnings"], capture_output=True, text=True,
                              env=env, timeout=120)
        assert proc.returncode == 0, f"{tool}: {proc.stderr}"
    assert "rmse" in proc.stdout


@pytest.mark.skipif(not KITTI06.is_dir(), reason="shared KITTI 06 clip not present")
def test_kitti06_run_matches_evo(tmp_path, run_cli):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "vo_app.cli.run", str(KITTI06), "--out", str(out), "--config",
                           "kitti", "--quiet", "--max-frames", "26"], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    est = out / "trajectory_kitti.txt"
    gt = tmp_path / "gt26.txt"
    write_kitti(gt, read_kitti(KITTI06 / "poses.txt")[:26])
    r = vo_eval_json(run_cli, tmp_path, "--gt", gt, "--est", est)["results"]["trajectory_kitti"]
    assert_stats_equal(r["ate_m"], evo_cli(tmp_path, "evo_ape", "kitti", gt, est, "-as"))
    assert_stats_equal(r["rpe_frame"]["trans_m"], evo_cli(tmp_path, "evo_rpe", "kitti", gt, est, "-as"))
    assert_stats_equal(r["rpe_frame"]["rot_deg"],
                       evo_cli(tmp_path, "evo_rpe", "kitti", gt, est, "-as", "-r", "angle_deg"))
    assert r["ate_m"]["rmse"] < 0.5


def test_vo_run_eval_without_ground_truth_says_so(synth_run, tmp_path):
    seq, _, _ = synth_run
    bare = tmp_path / "seq"
    shutil.copytree(seq, bare)
    (bare / "poses.txt").unlink()
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "vo_app.cli.run", str(bare), "--out", str(out), "--config", "demo",
                           "--quiet", "--eval"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == [
        f"vo-run: --eval: {bare} has no ground truth; nothing to evaluate"]
    assert not (out / "eval.json").exists() and (out / "trajectory_kitti.txt").is_file()


def test_paired_compare_of_benchmarks_finds_a_shift_and_not_a_tie():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "paired_compare.py"
    spec = importlib.util.spec_from_file_location("paired_compare", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(1)
    a = np.abs(rng.normal(0.03, 0.01, (10, 50)))
    same = mod.compare(a, a.copy(), 500, np.random.default_rng(0))
    assert same["diff"] == 0 and same["lo"] == same["hi"] == 0 and same["b_below"] == 0
    better = mod.compare(a, a - 0.005, 500, np.random.default_rng(0))
    assert better["b_below"] == 1.0 and better["hi"] < 0 and abs(better["diff"] + 0.005) < 1e-12
    noisy = mod.compare(a, np.abs(a + rng.normal(0, 0.01, a.shape)), 500, np.random.default_rng(0))
    assert noisy["lo"] < noisy["diff"] < noisy["hi"]
