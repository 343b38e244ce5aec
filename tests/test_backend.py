"""The back end in a run (vo_app/pipeline/backend.py): ``--window N`` on rendered sequences."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gtsam")

from vo_app.errors import UserError  # noqa: E402
from vo_app.io import open_sequence  # noqa: E402
from vo_app.io.trajectory import read_kitti  # noqa: E402
from vo_app.pipeline.config import load_config  # noqa: E402
from vo_app.pipeline.odometry import run_odometry  # noqa: E402
from vo_app.synth import write_sequence  # noqa: E402
from vo_app.synth.flow import ExactFlow  # noqa: E402

from test_window import sim3_error  # noqa: E402


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    root = write_sequence(tmp_path_factory.mktemp("street") / "seq", layout="kitti", n_frames=14, width=416,
                          height=128, motion="forward", seed=1, write_flow=False)
    return open_sequence(root)


def test_exact_flow_window_recovers_the_trajectory(street, tmp_path):
    """The renderer's exact flow through the whole run with a window of 5: positions within 1e-3 of the path
    (Sim(3)-aligned; measured 6e-5, the chain alone 2.5e-4), every keyframe solved, and the report's
    per-keyframe records complete.  The tracks follow the flow alone (``scale_lk_refine`` off): Lucas-Kanade
    on the rendered textures moves exact matches by 0.2 px (median), which left the window at 1.4e-3."""
    cfg = load_config("demo", window=5, scale_lk_refine=False)
    rep = run_odometry(street, cfg, tmp_path / "out", flow_net=ExactFlow(street))
    est = read_kitti(tmp_path / "out" / "trajectory_kitti.txt")
    gt = np.asarray(street.gt_poses)
    path = np.linalg.norm(np.diff(gt[:, :3, 3], axis=0), axis=1).sum()
    assert sim3_error(est[:, :3, 3], gt[:, :3, 3]).max() < 1e-3 * path
    w = rep["window"]
    assert w["size"] == 5 and w["failed"] == 0 and w["solves"] == len(street) - 1
    for r in w["keyframes"]:
        assert r["status"] == "ok" and r["cost_after"] <= r["cost_before"] and r["iterations"] >= 0
        assert r["time_s"] > 0 and r["keyframes"] <= 5
    assert max(r["tracks"] for r in w["keyframes"]) > 20


def test_the_window_in_its_own_process_gives_the_same_run(street, tmp_path):
    """``window_process`` (the default) solves beside the run: the trajectory files are the same bytes as
    with the window in the run's process, and so are the solves' records apart from their times."""
    reps = {}
    for proc in (True, False):
        cfg = load_config("demo", window=4, window_process=proc)
        reps[proc] = run_odometry(street, cfg, tmp_path / str(proc), flow_net=ExactFlow(street))
        assert reps[proc]["window"]["process"] is proc
    for name in ("trajectory_kitti.txt", "trajectory_tum.txt"):
        assert (tmp_path / "True" / name).read_bytes() == (tmp_path / "False" / name).read_bytes()

    def strip(rep):
        return [{k: v for k, v in r.items() if k not in ("time_s", "build_s")} for r in rep["window"]["keyframes"]]
    assert strip(reps[True]) == strip(reps[False]) and len(strip(reps[True])) == len(street) - 1


def test_failed_solves_fall_back_to_the_front_end(street, tmp_path, monkeypatch):
    """Every solve throws: the trajectory is the front end's chain (the --window 0 run), finite, and the
    report names each failed solve."""
    import gtsam

    class Broken:
        def __init__(self, *a, **k):
            pass

        def optimize(self):
            raise RuntimeError("Indeterminant linear system detected")

    chain = run_odometry(street, load_config("demo"), tmp_path / "chain", flow_net=ExactFlow(street))
    monkeypatch.setattr(gtsam, "LevenbergMarquardtOptimizer", Broken)
    # in the run's process: the patched optimizer is not in the window's own process
    rep = run_odometry(street, load_config("demo", window=4, window_process=False), tmp_path / "win",
                       flow_net=ExactFlow(street))
    assert rep["window"]["failed"] == rep["window"]["solves"] == len(street) - 1
    assert all(r["status"].startswith("failed") for r in rep["window"]["keyframes"])
    a = read_kitti(tmp_path / "win" / "trajectory_kitti.txt")
    b = read_kitti(tmp_path / "chain" / "trajectory_kitti.txt")
    assert np.isfinite(a).all() and chain["status"] == rep["status"] == "complete"
    np.testing.assert_allclose(a, b, atol=1e-9)


@pytest.mark.parametrize("overrides, words", [({"window": 1}, "out of range"), ({"window": 51}, "out of range"),
                                              ({"window": -1}, "out of range")])
def test_window_options_are_checked(overrides, words):
    with pytest.raises(UserError, match=words):
        load_config("demo", **overrides)


def test_the_window_is_on_where_an_absolute_source_exists():
    """``window`` unset: 7 keyframes with --scale fused or depth (the kitti preset, a camera height), 0 for the
    chain alone and for rgbd (which takes the window when asked); the indoor preset sets 7; --window wins."""
    assert load_config("kitti").window == 7
    assert load_config("demo", scale="fused", camera_height=1.6).window == 7
    assert load_config("demo").window == 0 and load_config("general").window == 0
    assert load_config("tum").window == 0 and load_config("demo", scale="rgbd", window=5).window == 5
    assert load_config("indoor").window == 7
    assert load_config("kitti", window=0).window == 0


def test_the_chain_ratio_enters_where_the_guess_came_from_it():
    """The chain's step-length ratio becomes a window factor only where the keyframe's guess is the last
    keyframe step's length times that ratio (the memory was made by the last keyframe pair), only with
    an absolute source in the window, and with the filter's sigma times WINDOW_CHAIN_RATIO_FACTOR."""
    from types import SimpleNamespace

    from vo_app.pipeline import backend
    from vo_app.pipeline.scale_chain import chain_sigma

    cfg = load_config("demo", window=5, window_process=False)  # the window's keys are read below
    K = np.array([[300.0, 0, 200], [0, 300.0, 60], [0, 0, 1]])

    def fr(ref, idx, ratio, parallax=2.0):
        return SimpleNamespace(ref_frame=SimpleNamespace(index=ref), frame=SimpleNamespace(index=idx), dense=None,
                               ratio=ratio, ratio_parallax=parallax, bridged_ratio=False)

    def step(length):
        T = np.eye(4)
        T[2, 3] = -length  # forward: X_2 = X_1 - t
        return T

    def records(absolute, ratios):
        be = backend.WindowBackEnd(cfg, K, (400, 120), absolute=absolute)
        be.start(0)
        lengths = [1.0]
        for r in ratios:
            lengths.append(lengths[-1] * (r[0] if r[1] else 1.1))
        for k, (r, length) in enumerate(zip([None] + [r[0] for r in ratios], lengths), start=1):
            be.frame(fr(k - 1, k, r), step(length), True, True, [])
        return be

    be = records(True, [(1.5, True), (0.8, True), (1.2, False)])
    assert [r["ratios"] for r in be.records] == [0, 1, 2, 2]  # the last guess did not come from its ratio
    keys = be.window.keys
    assert keys[2].ratio == pytest.approx((1.5, chain_sigma(cfg.chain_ratio_sigma, 2.0, max(cfg.scale_parallax_deg))
                                           * backend.WINDOW_CHAIN_RATIO_FACTOR))
    assert keys[3].ratio[0] == pytest.approx(0.8) and keys[4].ratio is None
    assert all(r["status"] == "ok" for r in be.records)
    assert [r["ratios"] for r in records(False, [(1.5, True), (0.8, True)]).records] == [0, 0, 0]


def test_segment_levels_without_a_break_scale_the_whole_run_alike(street, tmp_path):
    """With the ground plane in the window, the run ends by levelling each chain segment on its absolute step
    lengths (``window/levels.py``).  The street has no break (every keyframe has its chain ratio), so that
    is one factor for the whole run: the trajectory is the unlevelled one times a constant, and the report
    records one segment."""
    runs = {}
    for levels in (True, False):
        cfg = load_config("demo", window=4, scale="fused", camera_height=1.6, window_levels=levels)
        runs[levels] = run_odometry(street, cfg, tmp_path / str(levels), flow_net=ExactFlow(street))
    rec = runs[True]["window"]["levels"]
    assert runs[False]["window"]["levels"] is None
    assert rec["segments"] == 1 and rec["measurements"] > 0
    a = read_kitti(tmp_path / "True" / "trajectory_kitti.txt")[:, :3, 3]
    b = read_kitti(tmp_path / "False" / "trajectory_kitti.txt")[:, :3, 3]
    k = np.linalg.norm(a[-1]) / np.linalg.norm(b[-1])
    assert rec["factor_min"] == rec["factor_max"] == pytest.approx(k, rel=1e-3)
    np.testing.assert_allclose(a, b * k, atol=1e-9 * np.abs(a).max() + 1e-12)
