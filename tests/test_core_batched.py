"""The batched torch API over the C++ core (vo_app.geometry.batched) against the NumPy reference."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import _geo_np as geo
from vo_app.geometry import batched, pose_torch

pytestmark = pytest.mark.skipif(not geo._ext.available(), reason="vo_app._core is not built")

K = np.array([[450.0, 0, 415.5], [0, 450.0, 127.5], [0, 0, 1]])


def scene(rng, n=800, noise=0.1, outliers=0.0):
    X = np.c_[rng.uniform(-15, 15, n), rng.uniform(-3, 2, n), rng.uniform(4, 50, n)]
    R = geo.se3.so3_exp(rng.normal(0, 0.03, 3))
    t = np.array([rng.normal(0, 0.1), rng.normal(0, 0.05), 1.0])
    p1 = X @ K.T
    p1 = p1[:, :2] / p1[:, 2:]
    p2 = (X @ R.T + t) @ K.T
    p2 = p2[:, :2] / p2[:, 2:] + rng.normal(0, noise, (n, 2))
    out = rng.random(n) < outliers
    p2[out] = rng.uniform([0, 0], [832, 256], (out.sum(), 2))
    return p1, p2, R, t / np.linalg.norm(t), ~out


def test_batch_equals_single_calls():
    rng = np.random.default_rng(0)
    data = [scene(rng, outliers=0.3) for _ in range(4)]
    P1 = torch.from_numpy(np.stack([d[0] for d in data]))
    P2 = torch.from_numpy(np.stack([d[1] for d in data]))
    seeds = np.array([11, 12, 13, 14])
    whole = batched.ransac_fundamental(P1, P2, threshold=0.5, seed=seeds)
    for b in range(4):
        one = batched.ransac_fundamental(P1[b:b + 1], P2[b:b + 1], threshold=0.5, seed=int(seeds[b]))
        assert torch.equal(one.inliers[0], whole.inliers[b])
        torch.testing.assert_close(one.F[0], whole.F[b], rtol=0, atol=0)
        assert int(one.iters[0]) == int(whole.iters[b])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_pose_cpp_matches_reference(seed):
    rng = np.random.default_rng(seed)
    p1, p2, R, t, _ = scene(rng)
    F, inl, ok = geo.ransac_fundamental(p1[None], p2[None], threshold=0.5, seed=seed)
    assert ok[0]
    cpp = geo.pose_from_fundamental(F, K[None], p1[None], p2[None], inl)
    ref = geo.pose_from_fundamental(F, K[None], p1[None], p2[None], inl, backend="reference")
    tor = pose_torch.pose_from_fundamental_t(torch.from_numpy(F), torch.from_numpy(K[None]), torch.from_numpy(p1[None]),
                                             torch.from_numpy(p2[None]), torch.from_numpy(inl))
    np.testing.assert_allclose(cpp.R, ref.R, atol=1e-9)
    np.testing.assert_allclose(cpp.t, ref.t, atol=1e-9)
    np.testing.assert_allclose(tor[0].numpy(), ref.R, atol=1e-9)
    assert int(cpp.n_front[0]) == int(ref.n_front[0]) == int(tor[2][0])
    assert np.degrees(geo.rotation_angle(cpp.R[0].T @ R)) < 0.2


def test_sample_matches_shapes_validity_and_flow():
    rng = np.random.default_rng(1)
    B, H, W = 3, 40, 64
    flow = torch.from_numpy(rng.normal(size=(B, 2, H, W)).astype(np.float32))
    score = torch.from_numpy(rng.random((B, H, W)).astype(np.float32))
    score[2] = 0
    score[2, :2, :3] = 1.0  # 6 candidates only
    m = batched.sample_matches(flow, score, n=200, ratio=0.25, seed=5)
    assert m.p1.shape == (B, 200, 2) and m.p2.shape == (B, 200, 2)
    assert m.valid.tolist() == [True, True, False]
    assert int(m.count[2]) == 6 and int(m.mask[2].sum()) == 6 and torch.isnan(m.p1[2, 6:]).all()
    x, y = m.p1[0, :, 0].long(), m.p1[0, :, 1].long()
    torch.testing.assert_close(m.p2[0] - m.p1[0], flow[0, :, y, x].T.double())


def test_planar_scene_is_flagged():
    rng = np.random.default_rng(3)
    X = np.c_[rng.uniform(-5, 5, 600), rng.uniform(-3, 3, 600), 10.0 + 0.0 * rng.uniform(size=600)]
    R = geo.se3.so3_exp([0.0, 0.02, 0.0])
    t = np.array([0.2, 0.0, 1.0])
    p1 = X @ K.T
    p1 = p1[:, :2] / p1[:, 2:]
    p2 = (X @ R.T + t) @ K.T
    p2 = p2[:, :2] / p2[:, 2:] + rng.normal(0, 0.05, (600, 2))
    res = batched.ransac_fundamental(torch.from_numpy(p1[None]), torch.from_numpy(p2[None]), threshold=0.5)
    assert not bool(res.ok[0])
    assert int(res.status[0]) in (2, 3)


def test_epipolar_score_map_matches_reference():
    rng = np.random.default_rng(4)
    flow = rng.normal(0, 2, (2, 24, 40, 2)).astype(np.float32)
    F = rng.normal(size=(2, 3, 3))
    d, s = batched.epipolar_score_map(torch.from_numpy(flow).permute(0, 3, 1, 2), torch.from_numpy(F), 0.5)
    for b in range(2):
        ref = geo.epipolar_distance_map(F[b], flow[b])
        np.testing.assert_allclose(d[b].numpy(), ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(s[b].numpy(), geo.inlier_score_map(ref, 0.5), rtol=1e-4, atol=1e-4)


def test_shape_errors_are_explicit():
    with pytest.raises(ValueError, match=r"\[B,N,2\]"):
        batched.ransac_fundamental(torch.zeros(5, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"\[B,2,H,W\]"):
        batched.sample_matches(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4))


@pytest.mark.skipif(not (torch.cuda.is_available() and geo._ext.available() and geo._ext._core.cuda_device_count() > 0),
                    reason="needs a CUDA device")
def test_cuda_pose_from_fundamental_matches_cpu():
    """Pose from the same F and inliers on CUDA tensors (torch code) and on the CPU kernel. The
    RANSAC parity itself (inliers, pose; not iteration counts) is tests/test_cuda_hygiene.py's."""
    rng = np.random.default_rng(7)
    data = [scene(rng, n=3000, outliers=0.3) for _ in range(8)]
    P1 = torch.from_numpy(np.stack([d[0] for d in data]))
    P2 = torch.from_numpy(np.stack([d[1] for d in data]))
    cpu = batched.ransac_fundamental(P1, P2, threshold=0.5, seed=3, check_planar=False)
    Kb = torch.from_numpy(np.broadcast_to(K, (8, 3, 3)).copy())
    Rc, tc, _, _ = batched.pose_from_fundamental(cpu.F, Kb, P1, P2, cpu.inliers)
    Rg, tg, _, _ = batched.pose_from_fundamental(cpu.F.cuda(), Kb.cuda(), P1.cuda(), P2.cuda(), cpu.inliers.cuda())
    torch.testing.assert_close(Rc, Rg.cpu(), atol=1e-9, rtol=0)
    torch.testing.assert_close(tc, tg.cpu(), atol=1e-9, rtol=0)


def test_refine_cpp_matches_reference():
    rng = np.random.default_rng(12)
    p1, p2, R, t, _ = scene(rng, n=1500, noise=0.3)
    R0 = R @ geo.se3.so3_exp([0.002, -0.003, 0.001])
    t0 = t + np.array([0.02, -0.01, 0.0])
    t0 /= np.linalg.norm(t0)
    Rc, tc, rc = geo.refine_pose(p1, p2, K, R0, t0, backend="cpp")
    Rr, tr, rr = geo.refine_pose(p1, p2, K, R0, t0, backend="reference")
    assert np.degrees(geo.rotation_angle(Rc.T @ Rr)) < 1e-3
    assert np.degrees(np.arccos(np.clip(tc @ tr, -1, 1))) < 1e-2
    assert abs(rc - rr) < 1e-3 * rr
    assert np.degrees(geo.rotation_angle(Rc.T @ R)) < np.degrees(geo.rotation_angle(R0.T @ R))
