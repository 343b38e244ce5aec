"""Reference two-view geometry (vo_app.geometry) on random synthetic scenes with known motion."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _geo_np as geo
from vo_app.geometry._reference.essential import decompose_essential, essential_from_fundamental
from vo_app.geometry.se3 import nearest_rotation, skew, so3_exp, so3_log

W, H = 416, 128
K = np.array([[0.58 * W, 0.0, (W - 1) / 2], [0.0, 0.58 * W, (H - 1) / 2], [0.0, 0.0, 1.0]])

RANSAC_BACKENDS = ["reference", pytest.param("cpp", marks=pytest.mark.skipif(
    not geo._ext.has("ransac_fundamental_cpu"), reason="vo_app._core without the C++ RANSAC"))]
with_backends = pytest.mark.parametrize("backend", RANSAC_BACKENDS)

FAST = settings(max_examples=25, deadline=None, database=None, derandomize=True)
SLOW = settings(max_examples=20, deadline=None, database=None, derandomize=True)
seeds = st.integers(0, 2**32 - 1)


def random_rotation(rng, max_deg: float, min_deg: float = 0.0) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    return so3_exp(axis * np.radians(rng.uniform(min_deg, max_deg)))


def project(X: np.ndarray) -> np.ndarray:
    x = X @ K.T
    return x[:, :2] / x[:, 2:]


def make_scene(rng, n=200, max_deg=5.0, t=None, zmin=3.0, zmax=40.0):
    """Points visible in camera 1, in front of camera 2 (``X_2 = R X_1 + t``, ``|t| = 1``)."""
    R = random_rotation(rng, max_deg, 0.5)
    if t is None:
        t = rng.normal(size=3)
    t = np.asarray(t, float) / np.linalg.norm(t)
    pts = []
    while sum(len(p) for p in pts) < n:
        uv = rng.uniform([0, 0], [W - 1, H - 1], size=(4 * n, 2))
        z = rng.uniform(zmin, zmax, size=4 * n)
        X = np.concatenate([uv, np.ones((4 * n, 1))], 1) @ np.linalg.inv(K).T * z[:, None]
        X2 = X @ R.T + t
        # in front of camera 2 with some parallax (not along the baseline)
        c2 = -R.T @ t
        ray1 = X / np.linalg.norm(X, axis=1, keepdims=True)
        ray2 = (X - c2) / np.linalg.norm(X - c2, axis=1, keepdims=True)
        ok = (X2[:, 2] > 1.0) & (np.sum(ray1 * ray2, 1) < np.cos(np.radians(0.3)))
        pts.append(X[ok])
    X = np.concatenate(pts)[:n]
    return X, R, t, project(X), project(X @ R.T + t)


def rot_err_deg(Ra, Rb) -> float:
    # |log(Ra^T Rb)| is accurate near 0, where arccos((trace - 1) / 2) is not (1e-6 deg resolution).
    return float(np.degrees(np.linalg.norm(so3_log(Ra.T @ Rb))))


def dir_err_deg(a, b) -> float:
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b)), np.dot(a, b))))


# ------------------------------------------------------------------ fundamental matrix
@FAST
@given(seed=seeds)
def test_eight_point_noise_free(seed):
    rng = np.random.default_rng(seed)
    _, R, t, p1, p2 = make_scene(rng, n=100)
    F = geo.eight_point(p1[None], p2[None])
    assert F.shape == (1, 3, 3)
    assert np.linalg.norm(F[0]) == pytest.approx(1.0)
    s = np.linalg.svd(F[0], compute_uv=False)
    assert s[2] < 1e-12 * s[0] and s[1] > 1e-8 * s[0]  # rank 2
    x1 = np.c_[p1, np.ones(len(p1))]
    x2 = np.c_[p2, np.ones(len(p2))]
    assert np.abs(np.einsum("ni,ij,nj->n", x2, F[0], x1)).max() < 1e-9
    assert geo.sampson_distance(F, p1[None], p2[None]).max() < 1e-6
    assert geo.epipolar_line_distance(F, p1[None], p2[None]).max() < 1e-6
    # Same F as the true one, up to scale and sign.
    F_true = geo.fundamental_from_pose(K, R, t)
    F_true /= np.linalg.norm(F_true)
    assert min(np.abs(F[0] - F_true).max(), np.abs(F[0] + F_true).max()) < 1e-6


def test_sampson_distance_shapes_and_units():
    rng = np.random.default_rng(0)
    _, R, t, p1, p2 = make_scene(rng, n=50)
    F = geo.fundamental_from_pose(K, R, t)[None]
    # A per-hypothesis [B,H,3,3] call equals the [B,3,3] call per hypothesis.
    Fh = np.stack([F[0], F[0] * -3.0])[None]
    q2 = p2 + rng.normal(0, 1.0, p2.shape)
    d = geo.sampson_distance(F, p1[None], q2[None])
    dh = geo.sampson_distance(Fh, p1[None], q2[None])
    assert dh.shape == (1, 2, 50) and d.shape == (1, 50)
    np.testing.assert_allclose(dh[0, 0], d[0], rtol=1e-10)
    np.testing.assert_allclose(dh[0, 1], d[0], rtol=1e-10)  # scale invariant
    # Moving p2 by 2 px along the epipolar-line normal gives a Sampson distance of <= 2 px.
    assert 0 < d.max() and geo.sampson_distance(F, p1[None], p2[None]).max() < 1e-8


def outlier_problem(seed: int, n: int = 200, outliers: float = 0.4, noise: float = 0.1):
    """Matches with ``noise``-px Gaussian noise, a fraction replaced by uniformly random ``p2``."""
    rng = np.random.default_rng(seed)
    _, R, t, p1, p2 = make_scene(rng, n=n)
    p1 = p1 + rng.normal(0, noise, p1.shape)
    p2 = p2 + rng.normal(0, noise, p2.shape)
    out = rng.permutation(n)[: int(outliers * n)]
    truth = np.ones(n, bool)
    truth[out] = False
    p2[out] = rng.uniform([0, 0], [W - 1, H - 1], size=(len(out), 2))
    return p1, p2, truth


def recall_precision(inl, truth):
    tp = np.sum(inl & truth)
    return tp / truth.sum(), tp / max(inl.sum(), 1)


@with_backends
@SLOW
@given(seed=seeds)
def test_ransac_recovers_inliers_with_40_percent_outliers(seed, backend):
    p1, p2, truth = outlier_problem(seed)
    F, inl, ok = geo.ransac_fundamental(p1[None], p2[None], threshold=0.5, seed=seed % 1000, backend=backend)
    assert ok[0] and inl.shape == (1, len(truth)) and inl.dtype == bool
    recall, precision = recall_precision(inl[0], truth)
    # Per scene only floors: the single (not iterated) refit of the best 8-point hypothesis leaves
    # recall in [0.76, 0.95] in ~2 % of random scenes (6000 tried; precision >= 0.952 in all of them).
    # The aggregate test below holds the 0.95 bars.
    assert precision > 0.9 and recall > 0.6
    assert np.median(geo.sampson_distance(F, p1[None][:, truth], p2[None][:, truth])) < 0.2


@with_backends
def test_ransac_recall_and_precision_over_many_scenes(backend):
    stats = []
    for seed in range(100):
        p1, p2, truth = outlier_problem(10_000 + seed)
        _, inl, ok = geo.ransac_fundamental(p1[None], p2[None], threshold=0.5, seed=seed, backend=backend)
        assert ok[0]
        stats.append(recall_precision(inl[0], truth))
    recall, precision = np.array(stats).T
    assert (precision > 0.95).all()
    assert np.median(recall) > 0.98
    assert np.mean((recall > 0.95) & (precision > 0.95)) >= 0.9


@with_backends
def test_ransac_is_deterministic_per_seed(backend):
    rng = np.random.default_rng(5)
    _, _, _, p1, p2 = make_scene(rng, n=120)
    p2[:40] = rng.uniform([0, 0], [W - 1, H - 1], size=(40, 2))
    a = geo.ransac_fundamental(p1[None], p2[None], threshold=0.5, seed=3, backend=backend)
    b = geo.ransac_fundamental(p1[None], p2[None], threshold=0.5, seed=3, backend=backend)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@with_backends
def test_ransac_batch_flags_each_item(backend):
    rng = np.random.default_rng(2)
    items = [make_scene(rng, n=60) for _ in range(3)]
    p1 = np.stack([s[3] for s in items])
    p2 = np.stack([s[4] for s in items])
    p1[1, 5:] = np.nan  # item 1: only 5 finite matches
    F, inl, ok = geo.ransac_fundamental(p1, p2, threshold=0.5, backend=backend)
    assert ok.tolist() == [True, False, True]
    assert not inl[1].any() and np.isfinite(F).all()
    assert inl[0].all() and inl[2].all()


# ------------------------------------------------------------------ essential matrix and pose
@FAST
@given(seed=seeds)
def test_essential_decomposition_four_proper_candidates(seed):
    rng = np.random.default_rng(seed)
    _, R, t, _, _ = make_scene(rng, n=10)
    F = geo.fundamental_from_pose(K, R, t)[None]
    E = essential_from_fundamental(F, K[None])
    s = np.linalg.svd(E[0], compute_uv=False)
    assert s[0] == pytest.approx(s[1], rel=1e-9) and s[2] < 1e-9
    Rc, tc = decompose_essential(E)
    assert Rc.shape == (1, 4, 3, 3) and tc.shape == (1, 4, 3)
    np.testing.assert_allclose(np.linalg.det(Rc[0]), 1.0, atol=1e-9)
    np.testing.assert_allclose(Rc[0] @ np.swapaxes(Rc[0], 1, 2), np.broadcast_to(np.eye(3), (4, 3, 3)), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(tc[0], axis=1), 1.0, atol=1e-12)
    # Every candidate reproduces E up to sign, and the true motion is one of them.
    for j in range(4):
        Ej = skew(tc[0, j]) @ Rc[0, j]
        Ej /= np.linalg.norm(Ej)
        assert min(np.abs(Ej - E[0]).max(), np.abs(Ej + E[0]).max()) < 1e-9
    errs = [rot_err_deg(Rc[0, j], R) + dir_err_deg(tc[0, j], t) for j in range(4)]
    assert min(errs) < 1e-6


@FAST
@given(seed=seeds)
def test_pose_from_fundamental_with_cheirality(seed):
    rng = np.random.default_rng(seed)
    _, R, t, p1, p2 = make_scene(rng, n=150)
    F = geo.eight_point(p1[None], p2[None])
    pose = geo.pose_from_fundamental(F, K[None], p1[None], p2[None])
    assert rot_err_deg(pose.R[0], R) < 0.1
    assert dir_err_deg(pose.t[0], t) < 1.0
    assert pose.n_front[0] >= 0.9 * len(p1)
    others = np.sort(pose.n_front_all[0])[:-1]
    assert (others < pose.n_front[0]).all()  # the vote is unambiguous
    # The mask restricts the vote to the given matches.
    mask = np.zeros((1, len(p1)), bool)
    mask[0, :40] = True
    masked = geo.pose_from_fundamental(F, K[None], p1[None], p2[None], mask)
    assert masked.n_front[0] <= 40 and rot_err_deg(masked.R[0], R) < 0.1


# ------------------------------------------------------------------ triangulation
@FAST
@given(seed=seeds)
def test_triangulate_midpoint_exact_depths(seed):
    rng = np.random.default_rng(seed)
    X, R, t, p1, p2 = make_scene(rng, n=100)
    tri = geo.triangulate_midpoint(p1, p2, K, R, t)
    assert tri.valid.all()
    np.testing.assert_allclose(tri.depth1, X[:, 2], rtol=1e-9)
    np.testing.assert_allclose(tri.depth2, (X @ R.T + t)[:, 2], rtol=1e-9)
    np.testing.assert_allclose(tri.points, X, rtol=1e-9, atol=1e-9)
    # Scaling the baseline scales the depths (unit-baseline convention of the pipeline).
    tri3 = geo.triangulate_midpoint(p1, p2, K, R, 3.0 * t)
    np.testing.assert_allclose(tri3.depth1, 3.0 * X[:, 2], rtol=1e-9)


def test_triangulate_midpoint_flags_points_behind_and_parallel_rays():
    rng = np.random.default_rng(4)
    X, R, t, p1, p2 = make_scene(rng, n=50, t=[0.2, 0.0, 1.0])
    # The same image points with the reversed baseline put every point behind both cameras.
    behind = geo.triangulate_midpoint(p1, p2, K, R, -t)
    assert not behind.valid.any()
    assert (behind.depth1 < 0).all()
    # Points at infinity: rays from the two centres are parallel.
    d = X / np.linalg.norm(X, axis=1, keepdims=True)
    q2 = project(d @ R.T)
    par = geo.triangulate_midpoint(p1, q2, K, R, t)
    assert not par.valid.any()
    assert np.abs(par.cos_angle).max() < 1e-3
    # Identical rays with no baseline: nothing to triangulate, no NaN leaks into ``valid``.
    zero = geo.triangulate_midpoint(p1, project(X @ R.T), K, R, np.zeros(3))
    assert not zero.valid.any()
    # Non-finite pixels are never valid.
    nanp = p1.copy()
    nanp[:5] = np.nan
    assert not geo.triangulate_midpoint(nanp, p2, K, R, t).valid[:5].any()


@pytest.mark.skipif(not geo._ext.has("triangulate_midpoint_cpu"), reason="C++ core not built")
def test_triangulate_midpoint_cpp_kernel_matches_numpy_reference():
    from vo_app.geometry._reference.triangulation import triangulate_midpoint as triangulate_midpoint_numpy

    rng = np.random.default_rng(9)
    X, R, t, p1, p2 = make_scene(rng, n=300, t=[0.2, 0.0, 1.0])
    p2 = p2 + rng.normal(0, 0.5, p2.shape)  # noisy: rays that do not meet
    p1[:4] = np.nan
    d = X[10:20] / np.linalg.norm(X[10:20], axis=1, keepdims=True)
    p2[10:20] = project(d @ R.T)  # parallel rays
    Kx = K.copy()
    Kx[0, 1] = 0.7  # skew: the kernel takes the full K^-1
    for tt in (t, -t, np.zeros(3)):
        cpp = geo.triangulate_midpoint(p1, p2, Kx, R, tt, backend="cpp")
        ref = triangulate_midpoint_numpy(p1, p2, Kx, R, tt)
        assert cpp.valid.dtype == bool and cpp.valid.tolist() == ref.valid.tolist()
        well = np.ones(300, bool)
        well[10:20] = False  # parallel rays: an ill-conditioned solve, equal to ~1e-6 only
        for a, b in ((cpp.points, ref.points), (cpp.depth1, ref.depth1), (cpp.depth2, ref.depth2),
                     (cpp.cos_angle, ref.cos_angle), (cpp.ray_cos, ref.ray_cos)):
            np.testing.assert_allclose(a[well], b[well], rtol=1e-9, atol=1e-12, equal_nan=True)
            np.testing.assert_allclose(a[~well], b[~well], rtol=1e-5, atol=1e-9)
    assert (cpp.points.shape, cpp.depth1.shape) == ((300, 3), (300,))
    with pytest.raises(ValueError, match="shape"):
        geo._ext._core.triangulate_midpoint_cpu(p1[:, :1], p2, np.eye(3), R, t)


# ------------------------------------------------------------------ refinement
@SLOW
@given(seed=seeds)
def test_refine_pose_reduces_rotation_error(seed):
    rng = np.random.default_rng(seed)
    _, R, t, p1, p2 = make_scene(rng, n=200)
    p1 = p1 + rng.normal(0, 0.2, p1.shape)
    p2 = p2 + rng.normal(0, 0.2, p2.shape)
    R0 = R @ random_rotation(rng, 2.0, 1.0)
    t0 = t + 0.05 * rng.normal(size=3)
    t0 /= np.linalg.norm(t0)
    R1, t1, rms = geo.refine_pose(p1, p2, K, R0, t0)
    e0, e1 = rot_err_deg(R0, R), rot_err_deg(R1, R)
    assert e1 < 0.25 * e0 and e1 < 0.25  # 300 random scenes: e1/e0 <= 0.11, e1 <= 0.15 deg
    assert dir_err_deg(t1, t) < 2.0
    assert np.linalg.norm(t1) == pytest.approx(1.0)
    assert np.linalg.det(R1) == pytest.approx(1.0)
    assert 0.0 < rms < 1.0


def test_fundamental_from_pose_convention():
    rng = np.random.default_rng(8)
    _, R, t, p1, p2 = make_scene(rng, n=30)
    F = geo.fundamental_from_pose(K, R, t)
    x1, x2 = np.c_[p1, np.ones(30)], np.c_[p2, np.ones(30)]
    r = np.einsum("ni,ij,nj->n", x2, F, x1) / np.linalg.norm(F)
    assert np.abs(r).max() < 1e-10


# ------------------------------------------------------------------ rotation-only model
@FAST
@given(seed=seeds)
def test_fit_rotation_recovers_pure_rotation(seed):
    rng = np.random.default_rng(seed)
    R = random_rotation(rng, 8.0, 0.5)
    X, *_ = make_scene(rng, n=100)
    p1, p2 = project(X), project(X @ R.T)
    ok = (p2[:, 0] > -50) & (p2[:, 0] < W + 50)
    Rf, res = geo.fit_rotation(p1[ok], p2[ok], K)
    assert rot_err_deg(Rf, R) < 1e-6
    assert res.shape == (ok.sum(),) and res.max() < 1e-6


def test_fit_rotation_leaves_parallax_of_translation():
    rng = np.random.default_rng(1)
    _, R, t, p1, p2 = make_scene(rng, n=200, t=[0.3, 0.0, 1.0], zmin=3, zmax=15)
    _, res = geo.fit_rotation(p1, p2, K)
    assert np.median(res) > 1.0


# ------------------------------------------------------------------ scale
@FAST
@given(seed=seeds, ratio=st.floats(0.05, 20.0))
def test_robust_ratio_with_30_percent_outliers(seed, ratio):
    rng = np.random.default_rng(seed)
    n = 300
    denom = rng.uniform(1.0, 50.0, n)
    numer = ratio * denom * np.exp(rng.normal(0, 0.01, n))
    out = rng.permutation(n)[: int(0.3 * n)]
    numer[out] = rng.uniform(0.01, 1000.0, len(out))
    r, used = geo.robust_ratio(numer, denom)
    assert r == pytest.approx(ratio, rel=0.01)
    assert 0.6 * n <= used <= n


def test_robust_ratio_ignores_invalid_and_needs_enough_points():
    d = np.linspace(1, 10, 40)
    num = 2.0 * d
    num[:10] = [0, -1, np.nan, np.inf, 0, 0, -5, np.nan, 0, 0]
    r, used = geo.robust_ratio(num, d)
    assert r == pytest.approx(2.0) and used == 30
    r, used = geo.robust_ratio(num[:25], d[:25])
    assert np.isnan(r) and used == 15
    r, used = geo.robust_ratio(np.array([]), np.array([]))
    assert np.isnan(r) and used == 0
    w = np.ones(40)
    w[10:20] = 0.0  # zero weight: ignored
    r, used = geo.robust_ratio(num, d, weights=w)
    assert r == pytest.approx(2.0) and used == 20


# ------------------------------------------------------------------ SE(3) / SO(3)
vec3 = st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3).map(np.array)


@FAST
@given(w=vec3, v=vec3)
def test_so3_exp_log_and_inverse_identities(w, v):
    R = so3_exp(w)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    theta = np.linalg.norm(w)
    expected = theta if theta <= np.pi else 2 * np.pi - theta
    assert float(geo.rotation_angle(R)) == pytest.approx(expected, abs=1e-6)
    if theta < 3.0:  # log is the inverse of exp below pi
        np.testing.assert_allclose(so3_log(R), w, atol=1e-7)
    T = geo.make_pose(R, v * 10)
    Ti = geo.inverse(T)
    np.testing.assert_allclose(Ti @ T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(T @ Ti, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(geo.inverse(Ti), T, atol=1e-12)
    np.testing.assert_array_equal(T[3], [0, 0, 0, 1])


def test_rotation_angle_small_rotations_of_rounded_poses():
    """Per-pair errors of 0.03 deg between poses written with 7 significant digits (the KITTI
    ground-truth files): the angle stays within 1e-4 deg of the exact one, where the arccos of
    the trace alone (the form used before) errs by more than 1e-3 deg on many pairs."""
    rng = np.random.default_rng(0)

    def rounded(R):
        return np.array([float(f"{x:.6e}") for x in R.ravel()]).reshape(3, 3)

    new_err, old_err = [], []
    for _ in range(200):
        A = so3_exp(rng.normal(size=3))  # absolute orientations far from identity
        B = A @ so3_exp(rng.normal(size=3) * 0.01)
        w = rng.normal(size=3) * np.radians(0.03) / np.sqrt(3)  # the estimate's error, exactly |w|
        rel_e = so3_exp(w) @ B.T @ A
        exact = np.degrees(np.linalg.norm(w))
        R = rel_e.T @ (rounded(B).T @ rounded(A))
        new_err.append(abs(np.degrees(float(geo.rotation_angle(R))) - exact))
        c = np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)
        old_err.append(abs(np.degrees(np.arccos(c)) - exact))
    assert max(new_err) < 1e-4, max(new_err)
    assert np.mean(np.asarray(old_err) > 1e-3) > 0.3, np.median(old_err)  # the failure this avoids
    assert float(geo.rotation_angle(so3_exp(np.array([0.0, 0.0, np.pi])))) == pytest.approx(np.pi)


def test_so3_small_angles_and_nearest_rotation():
    w = np.array([1e-10, -2e-10, 3e-11])
    np.testing.assert_allclose(so3_exp(w), np.eye(3) + skew(w), atol=1e-18)
    np.testing.assert_allclose(so3_log(so3_exp(w)), w, rtol=1e-6, atol=1e-20)
    np.testing.assert_allclose(so3_log(np.eye(3)), 0.0)
    R = so3_exp(np.array([0.3, -0.2, 0.1]))
    noisy = R + 1e-4 * np.random.default_rng(0).normal(size=(3, 3))
    assert rot_err_deg(nearest_rotation(noisy), R) < 0.05
    assert np.linalg.det(nearest_rotation(-np.eye(3))) == pytest.approx(1.0)


@FAST
@given(w0=vec3, w1=vec3, t0=vec3, t1=vec3, alpha=st.floats(0.0, 1.0))
def test_interpolate_geodesic(w0, w1, t0, t1, alpha):
    T0 = geo.make_pose(so3_exp(w0), t0)
    T1 = geo.make_pose(so3_exp(w1), t1)
    np.testing.assert_allclose(geo.interpolate(T0, T1, 0.0), T0, atol=1e-9)
    if geo.rotation_angle(T0[:3, :3].T @ T1[:3, :3]) < 3.0:
        np.testing.assert_allclose(geo.interpolate(T0, T1, 1.0), T1, atol=1e-7)
        Ta = geo.interpolate(T0, T1, alpha)
        full = float(geo.rotation_angle(T0[:3, :3].T @ T1[:3, :3]))
        assert float(geo.rotation_angle(T0[:3, :3].T @ Ta[:3, :3])) == pytest.approx(alpha * full, abs=1e-7)
        assert float(geo.rotation_angle(Ta[:3, :3].T @ T1[:3, :3])) == pytest.approx((1 - alpha) * full, abs=1e-7)
        np.testing.assert_allclose(Ta[:3, 3], (1 - alpha) * t0 + alpha * t1, atol=1e-12)


def test_make_pose_rejects_bad_shapes():
    with pytest.raises(ValueError):
        geo.make_pose(np.eye(3), np.zeros(2))
    with pytest.raises(ValueError):
        geo.make_pose(np.eye(4), np.zeros(3))
    assert geo.make_pose(np.tile(np.eye(3), (5, 1, 1)), np.zeros((5, 3))).shape == (5, 4, 4)


# ------------------------------------------------------------------ degenerate inputs
@with_backends
def test_fewer_than_eight_matches(backend):
    rng = np.random.default_rng(0)
    _, _, _, p1, p2 = make_scene(rng, n=7)
    F, inl, ok = geo.ransac_fundamental(p1[None], p2[None], threshold=0.5, backend=backend)
    assert not ok[0] and not inl.any() and np.isfinite(F).all()
    F7 = geo.eight_point(p1[None], p2[None])  # under-determined: any F, but no crash and finite
    assert F7.shape == (1, 3, 3) and np.isfinite(F7).all()
    F0, inl0, ok0 = geo.ransac_fundamental(np.zeros((1, 0, 2)), np.zeros((1, 0, 2)), backend=backend)
    assert not ok0[0] and inl0.shape == (1, 0)


@with_backends
@pytest.mark.parametrize("shift", [0.0, 3.0])
def test_all_identical_points(shift, backend):
    p = np.tile([[100.0, 50.0]], (50, 1))
    q = p + [shift, 0.0]
    F, inl, ok = geo.ransac_fundamental(p[None], q[None], threshold=0.5, backend=backend)
    assert np.isfinite(F).all()
    # ransac's ok only promises "a hypothesis with 8+ inliers" (any F through one point pair has 50), so
    # the degeneracy is flagged by the rotation-only model, which the pipeline runs before RANSAC:
    # one ray pair is always explained by a rotation, i.e. zero parallax -> pure_rotation / no_motion.
    R, res = geo.fit_rotation(p, q, K)
    assert np.isfinite(R).all() and res.max() < 1e-6
    assert not ok[0] or res.max() < 1e-6


@with_backends
def test_nan_points_are_never_inliers(backend):
    rng = np.random.default_rng(3)
    _, _, _, p1, p2 = make_scene(rng, n=100)
    p1[::3] = np.nan
    p2[1::7, 1] = np.inf
    F, inl, ok = geo.ransac_fundamental(p1[None], p2[None], threshold=0.5, backend=backend)
    finite = np.isfinite(p1).all(1) & np.isfinite(p2).all(1)
    assert ok[0] and np.isfinite(F).all()
    assert not inl[0, ~finite].any() and inl[0, finite].mean() > 0.95
    nan = np.full((1, 30, 2), np.nan)
    F, inl, ok = geo.ransac_fundamental(nan, nan, backend=backend)
    assert not ok[0] and not inl.any() and np.isfinite(F).all()


@with_backends
def test_planar_scene_does_not_crash(backend):
    rng = np.random.default_rng(6)
    R = random_rotation(rng, 3.0, 1.0)
    t = np.array([0.1, 0.0, 1.0]) / np.linalg.norm([0.1, 0.0, 1.0])
    X = np.stack([rng.uniform(-8, 8, 200), np.full(200, 1.6), rng.uniform(4, 30, 200)], -1)  # the road
    p1, p2 = project(X), project(X @ R.T + t)
    F, inl, ok = geo.ransac_fundamental(p1[None], p2[None], threshold=0.5, backend=backend)
    assert np.isfinite(F).all()
    if ok[0]:
        assert np.linalg.norm(F[0]) == pytest.approx(1.0)
        pose = geo.pose_from_fundamental(F, K[None], p1[None], p2[None], inl)
        assert np.isfinite(pose.R).all() and np.isfinite(pose.t).all()
        np.testing.assert_allclose(np.linalg.det(pose.R), 1.0, atol=1e-9)


@with_backends
def test_zero_motion_pose_is_finite(backend):
    rng = np.random.default_rng(7)
    _, _, _, p1, _ = make_scene(rng, n=60)
    F, inl, ok = geo.ransac_fundamental(p1[None], p1[None].copy(), threshold=0.5, backend=backend)
    assert np.isfinite(F).all()
    pose = geo.pose_from_fundamental(F, K[None], p1[None], p1[None])
    assert np.isfinite(pose.R).all() and np.isfinite(pose.t).all()
    # With no baseline there is no parallax: the rotation-only model explains everything.
    R, res = geo.fit_rotation(p1, p1, K)
    assert rot_err_deg(R, np.eye(3)) < 1e-6 and res.max() < 1e-6
