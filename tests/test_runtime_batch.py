"""The batched runtime: streaming == --batch N == no pipelining (bit-identical trajectories), the mask
kernel and the batched planar check against their references, the one-pass scale chain, --device, --batch."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from vo_app import geometry as geo
from vo_app.geometry import _ext, batched
from vo_app.geometry._reference.flow_masks import match_score
from vo_app.geometry._reference.planar import flag_planar_loop, planar_pairs
from vo_app.io import open_sequence
from vo_app.pipeline import source as source_mod
from vo_app.pipeline.config import load_config
from vo_app.pipeline.odometry import run_odometry
from vo_app.pipeline.pair import TOO_FEW_INLIERS, estimate_pair, estimate_pairs
from vo_app.pipeline.scale_chain import PairMemory, triangulate

from _seqkit import raise_at

needs_core = pytest.mark.skipif(not geo._ext.available(), reason="vo_app._core is not built")
TRAJ = ("trajectory_kitti.txt", "trajectory_tum.txt")


def _run(seq_dir: Path, out: Path, max_frames: int | None = None, **overrides) -> dict:
    cfg = load_config("demo", **overrides)
    seq = open_sequence(seq_dir, max_frames=max_frames)
    return run_odometry(seq, cfg, out)


def _pairs(out: Path) -> list[dict]:
    """The per-pair records without timings."""
    rep = json.loads((out / "report.json").read_text())
    return [{k: v for k, v in p.items() if not k.startswith("t") or k == "triangulated"} for p in rep["pairs"]]


def _same_outputs(a: Path, b: Path) -> None:
    for name in TRAJ:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert _pairs(a) == _pairs(b)


# ------------------------------------------------------------------ streaming == batched == not pipelined
@pytest.fixture(scope="module")
def handheld_stream(tmp_path_factory, handheld_seq):
    out = tmp_path_factory.mktemp("stream")
    rep = _run(handheld_seq, out, pipeline=False)
    return out, rep


@pytest.mark.parametrize("batch", [2, 7, 64])
def test_batched_run_equals_streaming(handheld_stream, handheld_seq, tmp_path, batch):
    first, rep0 = handheld_stream
    rep = _run(handheld_seq, tmp_path, batch=batch)
    assert rep["config"]["batch"] == batch and rep["totals"]["pairs"] == rep0["totals"]["pairs"] == 19
    _same_outputs(first, tmp_path)


def test_batched_run_equals_streaming_with_another_seed(handheld_seq, tmp_path):
    a, b = tmp_path / "stream", tmp_path / "batched"
    _run(handheld_seq, a, max_frames=12, seed=3, pipeline=False)
    rep = _run(handheld_seq, b, max_frames=12, seed=3, batch=5)
    assert rep["config"]["seed"] == 3
    _same_outputs(a, b)


def test_pipelined_run_equals_unpipelined(handheld_stream, handheld_seq, tmp_path):
    first, _ = handheld_stream
    _run(handheld_seq, tmp_path, pipeline=True)
    _same_outputs(first, tmp_path)


@pytest.mark.parametrize("seq_name", ["static_seq", "rotation_seq"])
def test_kept_reference_pairs_are_recomputed(request, tmp_path, seq_name):
    """no_motion / pure_rotation keep the reference: a batch paired those frames with the previous
    frame, so the chain computes them again against the kept reference; the result is the streaming one."""
    seq_dir = request.getfixturevalue(seq_name)
    runs = {"stream": dict(pipeline=False), "batch4": dict(batch=4, pipeline=False),
            "batch4_pipelined": dict(batch=4), "pipelined": dict()}
    reps = {name: _run(seq_dir, tmp_path / name, **kw) for name, kw in runs.items()}
    for name in runs:
        _same_outputs(tmp_path / "stream", tmp_path / name)
    kept = [p for p in reps["stream"]["pairs"] if p["ref"] != p["frame"] - 1]
    assert kept, "the fixture should keep its reference for some frames"
    # Streaming without the thread: the flow of the next frame is computed after the decision,
    # against the reference the chain keeps, so nothing is computed twice.
    assert reps["stream"]["totals"]["flow_recomputed"] == 0
    assert reps["batch4"]["totals"]["flow_recomputed"] >= 1


def test_wrong_flow_guesses_do_not_change_the_output(handheld_stream, handheld_seq, tmp_path, monkeypatch):
    """Whatever frame the flow thread pairs a frame with, the chain uses its own reference."""
    first, _ = handheld_stream
    real_flow = source_mod.FlowSource.flow
    seen = []

    def items_with_bad_guesses(self):
        prev2 = prev = None
        from vo_app.models.dis import to_gray_u8

        for frame in self.seq:
            gray = to_gray_u8(frame.image)
            if prev is None:
                prev = (frame, gray)
                yield source_mod.FlowItem(frame, gray)
                continue
            ref, ref_gray = prev2 or prev  # two frames back: wrong whenever the reference advanced
            f, b, t = real_flow(self, ref, ref_gray, frame, gray)
            seen.append(ref.index)
            yield source_mod.FlowItem(frame, gray, ref, ref_gray, f, b, t)
            prev2, prev = prev, (frame, gray)

    monkeypatch.setattr(source_mod.FlowSource, "_items", items_with_bad_guesses)
    rep = _run(handheld_seq, tmp_path, batch=3)
    assert rep["totals"]["flow_recomputed"] >= 17
    _same_outputs(first, tmp_path)


def test_reader_errors_reach_the_loop_in_frame_order(handheld_seq, tmp_path):
    """A Ctrl-C raised while the flow thread reads frame 6 stops the run after frame 5, batched or not."""
    seq = raise_at(open_sequence(handheld_seq), 6, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_odometry(seq, load_config("demo", batch=4, flush_seconds=0.0), tmp_path)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["status"] == "interrupted" and [p["frame"] for p in rep["pairs"]] == [1, 2, 3, 4, 5]


# ------------------------------------------------------------------ the batched pair geometry
@pytest.fixture(scope="module")
def handheld_flows(handheld_seq):
    from vo_app.models.dis import DISFlow

    from vo_app.models.dis import to_gray_u8

    seq = open_sequence(handheld_seq, max_frames=6)
    frames = [f.image for f in seq]
    dis = DISFlow("medium")
    flows = [dis(frames[i], frames[i + 1]) for i in range(5)]
    return [f for f, _ in flows], [b for _, b in flows], seq.intrinsics.K, [to_gray_u8(f) for f in frames]


@needs_core
def test_estimate_pairs_equals_one_pair_at_a_time(handheld_flows):
    ff, fb, K, _ = handheld_flows
    cfg = load_config("demo")
    seeds = [11, 12, 13, 14, 15]
    together = estimate_pairs(ff, fb, K, cfg, seeds)
    for i in range(5):
        one = estimate_pair(ff[i], fb[i], K, cfg, seeds[i])
        got = together[i]
        assert got.fallback == one.fallback and got.n_inliers == one.n_inliers
        for name in ("R", "t", "p1", "p2", "depth1", "rigid_score"):
            np.testing.assert_array_equal(getattr(got, name), getattr(one, name), err_msg=name)


@needs_core
def test_small_inlier_share_is_too_few_inliers(handheld_flows):
    """A pair whose RANSAC keeps fewer inliers than ``min_inlier_share`` of the sampled matches is
    ``too_few_inliers`` (the flow lost the motion), however many inliers that is in absolute terms."""
    ff, fb, K, _ = handheld_flows
    posed = estimate_pair(ff[0], fb[0], K, load_config("demo"), 1)
    assert posed.fallback is None
    share = posed.n_inliers / load_config("demo").n_matches
    assert 0.2 < share < 1.0 and posed.n_inliers > 50
    strict = estimate_pair(ff[0], fb[0], K, load_config("demo", min_inlier_share=min(1.0, share + 0.01)), 1)
    assert strict.fallback == TOO_FEW_INLIERS and strict.n_inliers == posed.n_inliers


def test_reference_backend_runs_batched(handheld_flows):
    ff, fb, K, _ = handheld_flows
    cfg = load_config("demo", backend="reference", n_matches=800)
    res = estimate_pairs(ff[:2], fb[:2], K, cfg, [3, 4])
    one = estimate_pair(ff[1], fb[1], K, cfg, 4)
    assert all(r.fallback is None for r in res)
    np.testing.assert_array_equal(res[1].R, one.R)
    np.testing.assert_array_equal(res[1].depth1, one.depth1)


# ------------------------------------------------------------------ mask kernel == reference masks
def test_masks_equal_the_reference(handheld_flows):
    ff, fb, _, _ = handheld_flows
    rng = np.random.default_rng(0)
    h, w = 40, 56
    cases = list(zip(ff[:3], fb[:3]))
    # random flows: targets far outside the image, on borders, exactly on pixels, non-finite
    big = rng.normal(0, 15, (h, w, 2)).astype(np.float32)
    ints = np.rint(rng.normal(0, 3, (h, w, 2))).astype(np.float32)
    bad = rng.normal(0, 2, (h, w, 2)).astype(np.float32)
    bad[3, 4, 0], bad[5, 6, 1], bad[7, 8] = np.nan, np.inf, -np.inf
    cases += [(big, -big), (ints, ints[::-1].copy()), (bad, bad.copy()), (np.zeros((h, w, 2), np.float32),) * 2]
    for f, b in cases:
        with np.errstate(invalid="ignore"):  # the reference warns on non-finite flow
            ref = match_score(f, b)
        to = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None]  # noqa: E731
        with np.errstate(invalid="ignore"):
            api_ref = geo.match_score(to(f), to(b), backend="reference")
        for key in ("occ", "fb", "score"):
            np.testing.assert_array_equal(getattr(api_ref, key)[0].numpy(), ref[key], err_msg=key)
        if _ext.has("match_score_cpu"):  # the C++ kernel the runtime uses (csrc/cpu/masks.cpp)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # the kernel does not warn on non-finite flow
                got = geo.match_score(to(f), to(b))
            for key in ("occ", "fb", "score"):
                g = getattr(got, key)
                assert g.shape == (1,) + ref[key].shape and g.dtype == torch.float32
                np.testing.assert_allclose(g[0].numpy(), ref[key], rtol=1e-5, atol=1e-5, err_msg=f"C++ {key}")


# ------------------------------------------------------------------ the one-pass scale chain
# The earlier two-pass form of the scale chain (each pair refined and triangulated its points
# twice): the oracle of the one-pass form the run uses.
def _make_memory(flow_fwd: np.ndarray, valid: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, scale: float,
                images: tuple[np.ndarray, np.ndarray] | None = None, step: int = 2) -> PairMemory:
    """Triangulate the pair's dense matches (on a ``step`` grid of frame 1) into frame 2.

    With ``images`` (uint8 gray frames 1 and 2) the matches are refined by Lucas-Kanade first.
    """
    h, w = valid.shape
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    ok = valid[ys, xs]
    g = np.stack([xs[ok], ys[ok]], -1).astype(np.float64)
    q = g + flow_fwd[ys[ok], xs[ok]].astype(np.float64)
    keep = np.ones(len(g), bool)
    if images is not None:
        q, keep = _refine_matches(images[0], images[1], g, q)
    tri = triangulate(g, q, K, R, t)
    inside = keep & tri.valid & (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
    angle = np.arccos(np.clip(tri.ray_cos, -1.0, 1.0))
    return PairMemory(q[inside], tri.depth2[inside], angle[inside], float(scale))



def _scale_from_previous(mem: PairMemory, flow_fwd: np.ndarray, valid_new: np.ndarray, R: np.ndarray, t: np.ndarray,
                        K: np.ndarray, min_points: int, images: tuple[np.ndarray, np.ndarray] | None = None,
                        parallax_deg: tuple[float, ...] = (2.0, 1.0, 0.5, 0.0)) -> tuple[float, int, float]:
    """Ratio ``lambda_new / lambda_prev`` from the points of the shared frame that both pairs triangulate.

    Both pairs triangulate the same points with unit baselines (each from its own
    forward flow, so flow biases affect both alike); their depths then scale as
    ``1/lambda``.  Low-parallax points carry biased, noisy depths, so only points seen
    with at least ``parallax_deg`` in both pairs vote; the threshold relaxes, in the
    given order, until ``min_points`` remain.  Votes are weighted by the inverse
    variance of their log-depths (~ parallax^2).

    Returns ``(ratio, n_used, parallax_threshold_deg)``; ratio is NaN when even the
    last threshold leaves too few points.
    """
    p = mem.p
    xi = np.rint(p[:, 0]).astype(np.int64)
    yi = np.rint(p[:, 1]).astype(np.int64)
    ok = valid_new[yi, xi]
    p, d_old, a_old = p[ok], mem.depth[ok], mem.angle[ok]
    q = p + geo.sample_flow(flow_fwd, p.astype(np.float32)).astype(np.float64)
    if images is not None:
        q, keep = _refine_matches(images[0], images[1], p, q)
        p, q, d_old, a_old = p[keep], q[keep], d_old[keep], a_old[keep]
    new = triangulate(p, q, K, R, t)
    a_new = np.arccos(np.clip(new.ray_cos, -1.0, 1.0))
    weight = 1.0 / (1.0 / np.maximum(a_new, 1e-6) ** 2 + 1.0 / np.maximum(a_old, 1e-6) ** 2)
    a_min = np.minimum(a_old, a_new)
    for thr in parallax_deg:
        sel = new.valid & (a_min >= np.radians(thr))
        if sel.sum() >= min_points:
            ratio, n = geo.robust_ratio(d_old[sel], new.depth1[sel], min_points, weights=weight[sel])
            return ratio, n, thr
    return float("nan"), int(new.valid.sum()), float("nan")




def _refine_matches(*args):
    from vo_app.models.klt import refine_matches

    return refine_matches(*args)

@pytest.mark.parametrize("lk", [False, True])
def test_dense_ratio_equals_the_two_pass_ratio(handheld_flows, lk):
    """For the same memory, the ratio from the one-pass dense matches is the two-pass ratio
    (Lucas-Kanade refines each point on its own, so one call on all points gives the same matches)."""
    from vo_app.pipeline.scale_chain import dense_matches, ratio_from_dense

    ff, fb, K, grays = handheld_flows
    g = grays if lk else None
    im0, im1 = ((g[0], g[1]), (g[1], g[2])) if lk else (None, None)
    cfg = load_config("demo")
    r0 = estimate_pair(ff[0], fb[0], K, cfg, 1)
    r1 = estimate_pair(ff[1], fb[1], K, cfg, 2)
    assert r0.fallback is None and r1.fallback is None
    mem = _make_memory(ff[0], r0.rigid_score > 0, r0.R, r0.t, K, 1.0, images=im0, step=3)
    old = _scale_from_previous(mem, ff[1], r1.rigid_score > 0, r1.R, r1.t, K, 50, images=im1)
    dense = dense_matches(mem, ff[1], r1.rigid_score > 0, r1.R, r1.t, K, im1, step=3)
    new = ratio_from_dense(mem, dense, 50)
    assert np.isfinite(old[0]) and old[1] == new[1] and old[2] == new[2]
    assert new[0] == pytest.approx(old[0], rel=1e-12)
    # the shared points come first in the dense matches
    np.testing.assert_array_equal(dense.p[:dense.shared], mem.p[dense.shared_index])
    # the memory it leaves: one point per grid cell at most, every point inside the image
    nxt = dense.memory(1.0)
    h, w = ff[1].shape[:2]
    cells = np.rint(nxt.p / 3).astype(int)
    assert len(np.unique(cells, axis=0)) == len(nxt.p) > 100
    assert (nxt.p >= 0).all() and (nxt.p[:, 0] <= w - 1).all() and (nxt.p[:, 1] <= h - 1).all()
    assert np.isfinite(nxt.depth).all() and (nxt.depth > 0).all()


# ------------------------------------------------------------------ planar check: batched == pair by pair
K_PLANAR = np.array([[450.0, 0, 415.5], [0, 450.0, 127.5], [0, 0, 1]])


def _project(X):
    p = X @ K_PLANAR.T
    return p[:, :2] / p[:, 2:]


def _planar_case(rng, kind: str, n: int = 1500):
    R = geo.se3.so3_exp(rng.normal(0, 0.02, 3))
    t = np.array([rng.normal(0, 0.2), rng.normal(0, 0.05), 1.0])
    if kind == "wall":  # a fronto-parallel plane
        X = np.c_[rng.uniform(-5, 5, n), rng.uniform(-3, 3, n), np.full(n, 10.0)]
    elif kind == "road":  # the ground plane of a driving scene
        X = np.c_[rng.uniform(-8, 8, n), np.full(n, 1.6), rng.uniform(4, 30, n)]
    elif kind == "mostly_plane":  # 97 % on the road, 3 % elsewhere
        X = np.c_[rng.uniform(-8, 8, n), np.full(n, 1.6), rng.uniform(4, 30, n)]
        k = int(0.03 * n)
        X[:k] = np.c_[rng.uniform(-15, 15, k), rng.uniform(-3, 1, k), rng.uniform(4, 50, k)]
    else:  # a general scene
        X = np.c_[rng.uniform(-15, 15, n), rng.uniform(-3, 2, n), rng.uniform(4, 50, n)]
    p1, p2 = _project(X), _project(X @ R.T + t)
    noise = {"wall": 0.05, "road": 0.1}.get(kind, 0.1)
    return p1, p2 + rng.normal(0, noise, p2.shape)


@needs_core
def test_planar_check_same_decisions_as_the_pair_by_pair_check():
    rng = np.random.default_rng(5)
    kinds = ["wall", "road", "mostly_plane", "general"] * 6
    cases = [_planar_case(rng, k) for k in kinds]
    P1 = torch.from_numpy(np.stack([c[0] for c in cases]))
    P2 = torch.from_numpy(np.stack([c[1] for c in cases]))
    P1[3, :40] = float("nan")  # non-finite rows are ignored by both
    for thr in (0.1, 0.5):
        res = batched.ransac_fundamental(P1, P2, threshold=thr, seed=7, check_planar=False)
        fast = batched.RansacResult(res.F, res.inliers, res.n_inliers, res.iters, res.status.clone())
        slow = batched.RansacResult(res.F, res.inliers, res.n_inliers, res.iters, res.status.clone())
        batched.flag_planar(fast, P1, P2, thr)
        flag_planar_loop(slow, P1, P2, thr)
        assert fast.status.tolist() == slow.status.tolist()
        planar = (fast.status == 3).numpy()
        assert planar[[i for i, k in enumerate(kinds) if k in ("wall", "road")]].all()
        assert not planar[[i for i, k in enumerate(kinds) if k == "general"]].any()
    # the default of ransac_fundamental uses it
    res = batched.ransac_fundamental(P1[:4], P2[:4], threshold=0.5, seed=7)
    assert res.status[:2].tolist() == [3, 3] and int(res.status[3]) == 0


@needs_core
def test_planar_check_cpp_kernel_matches_the_numpy_version():
    from vo_app.geometry import _ext

    rng = np.random.default_rng(11)
    kinds = ["wall", "road", "mostly_plane", "general"] * 4
    cases = [_planar_case(rng, k) for k in kinds]
    x1 = np.stack([c[0] for c in cases])
    x2 = np.stack([c[1] for c in cases])
    x1[2, :30] = np.nan
    inl = rng.random(x1.shape[:2]) < 0.9
    inl[5, 3:] = False  # 3 inliers: never planar
    for tol in (0.2, 0.5, 2.0):
        cpp = _ext._core.planar_pairs_cpu(x1, x2, inl, tol, 0.95)
        ref = planar_pairs(x1, x2, inl, tol, 0.95)
        assert cpp.dtype == bool and cpp.tolist() == ref.tolist()
    assert not _ext._core.planar_pairs_cpu(x1, x2, inl, 0.5, 0.95)[5]
    assert _ext._core.planar_pairs_cpu(x1, x2, inl, 0.5, 0.95)[[0, 1]].all()
    with pytest.raises(ValueError, match="inliers"):
        _ext._core.planar_pairs_cpu(x1, x2, None, 0.5, 0.95)
    with pytest.raises(ValueError, match="shape"):
        _ext._core.planar_pairs_cpu(x1, x2[:, :5], inl, 0.5, 0.95)


def test_planar_pairs_edge_cases():
    x = np.zeros((2, 5, 2))
    assert not planar_pairs(x, x, np.zeros((2, 5), bool), 0.5).any()  # no inliers
    assert planar_pairs(np.zeros((0, 5, 2)), np.zeros((0, 5, 2)), np.zeros((0, 5), bool), 0.5).shape == (0,)


# ------------------------------------------------------------------ --device and --batch on the command line
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_device_cuda_without_a_gpu_is_a_one_line_error(handheld_seq, tmp_path, run_cli):
    res = run_cli([handheld_seq, "--config", "demo", "--device", "cuda", "--quiet", "--out", tmp_path])
    assert res.code == 2 and len(res.err_lines) == 1
    assert res.err.startswith("vo-run: error:") and "cuda" in res.err and "--device cpu" in res.err
    assert not (tmp_path / "trajectory_kitti.txt").exists()


def test_device_auto_picks_the_cpu_kernels(handheld_seq, tmp_path, run_cli):
    """auto is the CPU even with a GPU (benchmarks/bench_geometry_gpu.py: the CUDA path measured slower)."""
    from vo_app.pipeline.odometry import resolve_device

    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    res = run_cli([handheld_seq, "--config", "demo", "--device", "auto", "--batch", "5", "--max-frames", "6", "--quiet",
                   "--out", tmp_path])
    assert res.code == 0, res.err
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["device"] == "cpu" and rep["config"]["batch"] == 5 and rep["totals"]["pairs"] == 5


@pytest.mark.parametrize("value", ["0", "-3", "257", "two"])
def test_batch_out_of_bounds_is_a_usage_error(handheld_seq, tmp_path, run_cli, value):
    res = run_cli([handheld_seq, "--batch", value, "--quiet", "--out", tmp_path])
    assert res.code == 2 and len(res.err_lines) == 1 and "--batch" in res.err


@pytest.mark.parametrize("text, words", [("batch: 0\n", "must be positive"), ("batch: 1000\n", "between 1 and 256"),
                                          ("device: tpu\n", "unknown device")])
def test_batch_and_device_in_a_preset_are_checked(handheld_seq, tmp_path, run_cli, text, words):
    preset = tmp_path / "p.yaml"
    preset.write_text(text)
    res = run_cli([handheld_seq, "--config", preset, "--quiet", "--out", tmp_path / "out"])
    assert res.code == 2 and len(res.err_lines) == 1 and words in res.err, res.err


# ------------------------------------------------------------------ the threads change nothing
def test_parallel_dis_and_split_lk_give_the_same_numbers(handheld_seq):
    import threading

    from vo_app.models.dis import DISFlow, to_gray_u8
    from vo_app.models.klt import refine_matches

    seq = open_sequence(handheld_seq, max_frames=3)
    g = [to_gray_u8(f.image) for f in seq]
    one, two = DISFlow("medium"), DISFlow("medium", parallel=True)
    for a, b in ((0, 1), (1, 2), (0, 2)):
        f1, b1 = one.flow_gray(g[a], g[b])
        f2, b2 = two.flow_gray(g[a], g[b])
        assert f1.tobytes() == f2.tobytes() and b1.tobytes() == b2.tobytes()
    # the same flow computed in another thread, while this one computes another pair
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("x", DISFlow("medium").flow_gray(g[0], g[1])))
    th.start()
    one.flow_gray(g[1], g[2])
    th.join()
    ref_f, ref_b = one.flow_gray(g[0], g[1])
    assert out["x"][0].tobytes() == ref_f.tobytes() and out["x"][1].tobytes() == ref_b.tobytes()
    h, w = g[0].shape
    ys, xs = np.mgrid[0:h:2, 0:w:2]
    p = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float64)
    f = one.flow_gray(g[0], g[1])[0]
    q = p + f[ys.ravel(), xs.ravel()]
    assert len(p) >= 8000  # enough to be split
    q1, ok1 = refine_matches(g[0], g[1], p, q)
    q2, ok2 = refine_matches(g[0], g[1], p, q, threads=2)
    np.testing.assert_array_equal(q1, q2)
    np.testing.assert_array_equal(ok1, ok2)


def test_keep_freed_memory_is_idempotent_and_can_be_turned_off(tmp_path):
    import subprocess
    import sys

    from vo_app.pipeline.alloc import keep_freed_memory

    first = keep_freed_memory()
    assert keep_freed_memory() is first  # set once per process
    code = "from vo_app.pipeline.alloc import keep_freed_memory as k; print(k())"
    env = dict(__import__("os").environ, VO_APP_MALLOC="default")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ --backend reference runs no C++ kernel
class _NoKernel:
    """Stands in for vo_app._core: any use of a kernel fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the C++ kernel {name} ran under backend=reference")


def test_reference_backend_runs_no_kernel(handheld_seq, tmp_path, monkeypatch):
    """Masks, sampling, RANSAC and the planar check, pose, refinement, M_r, the pair's triangulation and
    the scale chain's all take the NumPy reference code; the report says so."""
    monkeypatch.setattr(_ext, "_core", _NoKernel())
    rep = _run(handheld_seq, tmp_path / "ref", max_frames=5, backend="reference", pipeline=False)
    assert json.loads((tmp_path / "ref" / "report.json").read_text())["geometry_backend"] == "reference"
    posed = [p for p in rep["pairs"] if p.get("fallback") is None]
    assert len(posed) >= 3  # the reference code poses the handheld pairs
    est = np.loadtxt(tmp_path / "ref" / "trajectory_kitti.txt")
    assert est.shape == (5, 12) and np.isfinite(est).all()


def test_missing_extension_falls_back_to_the_reference(handheld_seq, tmp_path, monkeypatch):
    """Without the compiled extension, backend auto is the reference code (same trajectory as
    --backend reference); backend cpp is refused."""
    monkeypatch.setattr(_ext, "_core", None)
    assert geo.backend_name("auto") == "reference"
    with pytest.raises(RuntimeError, match="not built"):
        geo.backend_name("cpp")
    _run(handheld_seq, tmp_path / "auto", max_frames=4, pipeline=False)
    monkeypatch.setattr(_ext, "_core", _NoKernel())
    _run(handheld_seq, tmp_path / "ref", max_frames=4, backend="reference", pipeline=False)
    for name in TRAJ:
        assert (tmp_path / "auto" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
