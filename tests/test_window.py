"""The back end's sliding window (vo_app/pipeline/window): tracks, the solve, the scale factors.

A synthetic stream: a camera driving forward with a slow yaw through scattered points; each
keyframe sees the points in front of it (exact or noisy pixels), its guess is the true relative
pose with the length off, and the absolute step lengths are given per keyframe.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gtsam")

from vo_app.pipeline.window.tracks import TrackStore  # noqa: E402
from vo_app.pipeline.window.window import SlidingWindow, StepMeasurement, WindowParams  # noqa: E402

K = np.array([[480.0, 0, 416], [0, 480.0, 128], [0, 0, 1]])
W, H = 832, 256


def drive(n: int, step: float = 1.0, seed: int = 0):
    """``n`` camera-to-world poses 1 m apart (yaw 0.6 deg per step) and 6000 world points around them."""
    rng = np.random.default_rng(seed)
    poses, c, yaw = [], np.zeros(3), 0.0
    for _ in range(n):
        R = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, c
        poses.append(T)
        yaw += 0.01
        c = c + R @ np.array([0, 0, step])
    pts = np.stack([rng.uniform(-25, 25, 6000), rng.uniform(-4, 2, 6000), rng.uniform(3, n * step + 40, 6000)], 1)
    return poses, pts


def observe(win: SlidingWindow, k: int, T: np.ndarray, pts: np.ndarray, ids: np.ndarray, noise: float, rng):
    Xc = (pts - T[:3, 3]) @ T[:3, :3]
    front = Xc[:, 2] > 1
    u = (Xc[front] / Xc[front, 2:3]) @ K.T
    inside = (u[:, 0] >= 0) & (u[:, 0] < W) & (u[:, 1] >= 0) & (u[:, 1] < H)
    idx = np.flatnonzero(front)[inside]
    win.tracks.observe(k, ids[idx], u[inside, :2] + rng.normal(0, noise, (len(idx), 2)) * (noise > 0))


def run(n: int, params: WindowParams, *, noise: float = 0.0, guess_error: float = 0.05, steps=None, seed: int = 0):
    """The window over the drive; ``steps(k, true_length) -> [StepMeasurement]``.  Returns (window, truth, records)."""
    rng = np.random.default_rng(seed + 1)
    poses, pts = drive(n, seed=seed)
    win = SlidingWindow(K, params, image_size=(W, H))
    ids = win.tracks.new_ids(len(pts))
    win.start(0, poses[0])
    observe(win, 0, poses[0], pts, ids, noise, rng)
    recs = []
    for k in range(1, n):
        T_rel = np.linalg.inv(poses[k]) @ poses[k - 1]
        guess = T_rel.copy()
        guess[:3, 3] *= 1 + guess_error
        observe(win, k, poses[k], pts, ids, noise, rng)
        length = float(np.linalg.norm(T_rel[:3, 3]))
        recs.append(win.add(k, guess, steps=[] if steps is None else steps(k, length)))
    return win, poses, recs


def centres(win, n):
    return np.array([win.pose(k)[:3, 3] for k in range(n)])


def sim3_error(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-position error after the best similarity (Umeyama)."""
    me, mg = est.mean(0), gt.mean(0)
    E, G = est - me, gt - mg
    U, S, Vt = np.linalg.svd(G.T @ E)
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U @ Vt))
    R = U @ D @ Vt
    s = np.trace(np.diag(S) @ D) / (E ** 2).sum()
    return np.linalg.norm(mg + s * E @ R.T - gt, axis=1)


def test_track_store_keeps_the_strided_ids_of_the_window_only():
    store = TrackStore(stride=4)
    ids = store.new_ids(12)
    assert ids.tolist() == list(range(12))
    px = np.arange(24, dtype=float).reshape(12, 2)
    store.observe(0, ids, px)
    store.observe(1, ids[:8], px[:8] + 1)
    store.observe(2, ids[4:], px[4:] + 2)
    got, gpx, seen = store.tracks([0, 1, 2], min_obs=3)
    assert got.tolist() == [4]  # ids 0, 4, 8 are kept; only 4 is in all three
    np.testing.assert_array_equal(gpx[0], [px[4], px[4] + 1, px[4] + 2])
    got, _, seen = store.tracks([0, 1, 2], min_obs=2)
    assert got.tolist() == [0, 4, 8] and seen.sum() == 7
    store.drop_before(2)
    assert store.keyframes() == [2] and len(store) == 2  # the older keyframes are forgotten
    with pytest.raises(ValueError):
        store.observe(3, ids[:2], px[:3])


def test_exact_observations_recover_the_trajectory():
    """Exact pixels, every guess 5 % too long, exact step lengths: the trajectory to 1e-3 of the path."""
    n = 30
    win, poses, recs = run(n, WindowParams(size=7, iterations=10),
                           steps=lambda k, length: [StepMeasurement("ground", length, 0.05)])
    assert all(r["status"] == "ok" for r in recs)
    gt = np.array([T[:3, 3] for T in poses])
    err = sim3_error(centres(win, n), gt)
    path = np.linalg.norm(np.diff(gt, axis=0), axis=1).sum()
    assert err.max() < 1e-3 * path
    # the guess alone (chained 5 % long steps) is not this good: the window did the work
    assert recs[-1]["tracks"] > 50 and recs[-1]["cost_after"] < recs[-1]["cost_before"]


def test_a_wrong_camera_height_moves_the_scale_by_its_weight():
    """Ground says 1.2x the truth, depth says the truth, equal log-sigmas: the step lengths land where the
    two Gaussians (sigma = value x log-sigma) meet, (1.2/1.44 + 1) / (1/1.44 + 1) = 1.082 of the truth."""
    sigma = 0.1

    def steps(k, length):
        return [StepMeasurement("ground", 1.2 * length, sigma), StepMeasurement("depth", length, sigma)]

    n = 24
    win, poses, recs = run(n, WindowParams(size=7, iterations=10), steps=steps, guess_error=0.0)
    lengths = np.linalg.norm(np.diff(centres(win, n), axis=0), axis=1)
    expected = (1.2 / 1.44 + 1) / (1 / 1.44 + 1)
    assert np.median(lengths) == pytest.approx(expected, rel=0.01)
    alone, _, _ = run(n, WindowParams(size=7, iterations=10), guess_error=0.0,
                      steps=lambda k, length: [StepMeasurement("ground", 1.2 * length, sigma)])
    lengths_alone = np.linalg.norm(np.diff(centres(alone, n), axis=0), axis=1)
    assert np.median(lengths_alone) == pytest.approx(1.2, rel=0.01)  # alone, the wrong height is obeyed
    last = recs[-1]["absolute"]
    assert {a["source"] for a in last} == {"ground", "depth"}
    assert all(not a["downweighted"] for a in last)  # 0.9 sigma off each: inside Huber's quadratic part


def test_two_keyframes_agree_with_the_two_view_pose():
    """A window of two keyframes with noisy tracks: rotation within 0.01 deg and direction within 0.1 deg
    of the two-view prior it started from (here the true pose), the tracks and the prior agreeing."""
    win, poses, recs = run(2, WindowParams(size=2, iterations=10), noise=0.5, guess_error=0.3)
    assert recs[0]["status"] == "ok" and recs[0]["tracks"] > 50
    T_est = np.linalg.inv(win.pose(1)) @ win.pose(0)
    T_true = np.linalg.inv(poses[1]) @ poses[0]
    dR = T_est[:3, :3] @ T_true[:3, :3].T
    assert np.degrees(np.arccos(np.clip((np.trace(dR) - 1) / 2, -1, 1))) < 0.01
    a, b = T_est[:3, 3], T_true[:3, 3]
    assert np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))) < 0.1


def test_a_failed_solve_keeps_the_guess_and_says_so(monkeypatch):
    import gtsam

    class Broken:
        def __init__(self, *a, **k):
            pass

        def optimize(self):
            raise RuntimeError("Indeterminant linear system detected while working near variable x3")

    monkeypatch.setattr(gtsam, "LevenbergMarquardtOptimizer", Broken)
    win, poses, recs = run(6, WindowParams(size=4), guess_error=0.1)
    assert all(r["status"].startswith("failed: Indeterminant") for r in recs)
    assert win.failed == len(recs)
    # the poses are the guesses chained: the 10 % long steps, finite
    lengths = np.linalg.norm(np.diff(centres(win, 6), axis=0), axis=1)
    np.testing.assert_allclose(lengths, 1.1, rtol=1e-9)


def test_a_diverging_solve_is_dropped(monkeypatch):
    """A solve whose result has a higher cost than its start (or NaN) is not taken."""
    import gtsam

    class Worse:
        def __init__(self, graph, values, params):
            self.values = gtsam.Values(values)
            self.graph = graph

        def optimize(self):
            out = gtsam.Values()
            for key in self.values.keys():
                if gtsam.Symbol(key).chr() == ord("x"):
                    out.insert(key, self.values.atPose3(key).compose(gtsam.Pose3(gtsam.Rot3.Yaw(0.3), np.zeros(3))))
                else:
                    out.insert(key, self.values.atPoint3(key))
            return out

        def iterations(self):
            return 1

    monkeypatch.setattr(gtsam, "LevenbergMarquardtOptimizer", Worse)
    win, poses, recs = run(5, WindowParams(size=4), guess_error=0.1)
    assert [r["status"] for r in recs[1:]] == ["failed: the cost went up"] * 3
    assert all(np.isfinite(win.pose(k)).all() for k in range(5))


def test_a_rotation_only_keyframe_keeps_the_solve_finite():
    """A keyframe whose guess has no translation (a rotation-only pose) gets a loose translation prior
    scaled by the last step, not a singular one: the solves stay ok and the drive stays finite."""
    rng = np.random.default_rng(3)
    poses, pts = drive(8)
    win = SlidingWindow(K, WindowParams(size=5), image_size=(W, H))
    ids = win.tracks.new_ids(len(pts))
    win.start(0, poses[0])
    observe(win, 0, poses[0], pts, ids, 0.3, rng)
    recs = []
    for k in range(1, 8):
        T_rel = np.linalg.inv(poses[k]) @ poses[k - 1]
        if k == 4:
            T_rel[:3, 3] = 0.0  # the pair could not tell the translation
        observe(win, k, poses[k], pts, ids, 0.3, rng)
        recs.append(win.add(k, T_rel))
    assert all(r["status"] == "ok" for r in recs)
    step = np.linalg.norm(win.pose(4)[:3, 3] - win.pose(3)[:3, 3])
    assert 0.8 < step < 1.2  # the tracks put the missing step back (truth: 1 m)


def _three_poses(c_z: float):
    """Keyframes a, b held 1 m apart on the z axis; c free, started ``c_z`` further along."""
    import gtsam

    from vo_app.pipeline.window import factors as fac

    values, graph = gtsam.Values(), gtsam.NonlinearFactorGraph()
    for k, z in enumerate((0.0, 1.0, 1.0 + c_z)):
        T = np.eye(4)
        T[2, 3] = z
        values.insert(fac.X(k), gtsam.Pose3(T))
        if k < 2:
            graph.add(fac.fixed(k, T))
    return graph, values


def test_the_length_ratio_factor_has_the_jacobian_of_its_error():
    """The chain's ratio factor (one Python CustomFactor for two ratios here): analytic Jacobians against
    finite differences, at poses rotated and off the axis, and the rows' whitened errors."""
    import gtsam

    from vo_app.pipeline.window import factors as fac

    rng = np.random.default_rng(0)
    values = gtsam.Values()
    for k in range(3):
        values.insert(fac.X(k), gtsam.Pose3(gtsam.Rot3.Expmap(rng.normal(size=3) * 0.3), rng.normal(size=3) * 2))
    f = fac.length_ratios([(0, 1, 2, 1.3, 0.01), (2, 1, 0, 0.7, 0.02)], 1e9)
    A, _ = f.linearize(values).jacobian()
    e0 = f.unwhitenedError(values)
    num = []
    for k in range(3):
        for i in range(6):
            d = np.zeros(6)
            d[i] = 1e-6
            moved = gtsam.Values(values)
            moved.update(fac.X(k), values.atPose3(fac.X(k)).retract(d))
            num.append((f.unwhitenedError(moved) - e0) / 1e-6)
    np.testing.assert_allclose(A, np.array(num).T, rtol=1e-4, atol=1e-3)
    a, b, c = (values.atPose3(fac.X(k)).translation() for k in range(3))
    assert e0[0] * 0.01 == pytest.approx(np.log(np.linalg.norm(c - b) / np.linalg.norm(b - a) / 1.3))
    assert e0[1] * 0.02 == pytest.approx(np.log(np.linalg.norm(a - b) / np.linalg.norm(b - c) / 0.7))


def test_the_length_ratios_cost_is_hubers():
    """Each row's cost is Huber's of its whitened error (as GTSAM's robust noise model would give it), and
    its gradient too: 0.5 u^2 inside the threshold, k |u| - k^2 / 2 beyond."""
    import gtsam

    from vo_app.pipeline.window import factors as fac

    for c_z, k in ((1.005, 1.345), (1.05, 1.345), (0.9, 2.0)):
        graph, values = _three_poses(c_z)
        f = fac.length_ratios([(0, 1, 2, 1.0, 0.01)], k)
        u = np.log(c_z) / 0.01
        rho = 0.5 * u * u if abs(u) <= k else k * abs(u) - 0.5 * k * k
        assert f.error(values) == pytest.approx(rho)
        A, b = f.linearize(values).jacobian()  # -b = r, A = dr/dz: r dr/dz = d rho / dz = rho'(u) / (0.01 c_z)
        grad = float(-b[0] * A[0, 17])
        assert grad == pytest.approx((u if abs(u) <= k else k * np.sign(u)) / (0.01 * c_z), rel=1e-6)


@pytest.mark.parametrize("ratio_sigma", [0.02, 0.1, 0.5])
def test_the_ratio_factor_pulls_a_step_length_as_much_as_its_sigma_says(ratio_sigma):
    """A step whose absolute length says 1.2 m (log-sigma 0.1) while the chain says it is as long as the
    held 1 m step before it (log-sigma ``ratio_sigma``): the step lands at the minimum of the two
    factors' costs (computed here on a fine grid): near 1 m for a tight ratio, near 1.2 m for a loose one."""
    import gtsam

    from vo_app.pipeline.window import factors as fac

    graph, values = _three_poses(1.1)
    graph.add(gtsam.PriorFactorPose3(fac.X(2), values.atPose3(fac.X(2)),  # c held on the z axis, free along it
                                     gtsam.noiseModel.Diagonal.Sigmas(np.r_[1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e6])))
    graph.add(fac.length_ratios([(0, 1, 2, 1.0, ratio_sigma)], 1e9))
    graph.add(fac.step_length(1, 2, 1.2, 0.1, 1e9))
    params = gtsam.LevenbergMarquardtParams()
    params.setMaxIterations(50)
    result = gtsam.LevenbergMarquardtOptimizer(graph, values, params).optimize()
    step = np.linalg.norm(result.atPose3(fac.X(2)).translation() - result.atPose3(fac.X(1)).translation())
    L = np.linspace(0.9, 1.3, 400001)
    expected = L[np.argmin(((L - 1.2) / 0.12) ** 2 + (np.log(L) / ratio_sigma) ** 2)]
    assert step == pytest.approx(expected, abs=1e-5)
    assert 1.0 < step < 1.2
