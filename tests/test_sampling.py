"""Flow masks, the inlier map and match sampling: NumPy reference and the C++ (and CUDA) kernel."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import _geo_np as geo
from vo_app.geometry import _ext
from vo_app.geometry._reference.sampling import sample_matches_ref, top_ratio_candidates

needs_cpp = pytest.mark.skipif(not _ext.available(), reason="vo_app._core is not built")
BACKENDS = ["reference", pytest.param("cpp", marks=needs_cpp)]
PROPS = settings(max_examples=30, deadline=None, database=None, derandomize=True)


# ------------------------------------------------------------------ helpers
def top_count(hw: int, ratio: float, positive: int) -> int:
    """The kernel's rule: round-half-up(ratio * HW), at most the number of positive scores."""
    return min(int(np.floor(ratio * hw + 0.5)), positive)


def expected_top(score: np.ndarray, ratio: float) -> np.ndarray:
    """Sorted flat indices of the top set: highest scores first, ties by lower index; score > 0 only."""
    flat = score.ravel().astype(np.float64)
    usable = flat > 0
    key = np.where(usable, flat, -np.inf)
    order = np.lexsort((np.arange(flat.size), -key))
    return np.sort(order[: top_count(flat.size, ratio, int(usable.sum()))])


def draw(backend: str, score: np.ndarray, n: int, ratio: float, seed: int, flow: np.ndarray | None = None):
    """Flat indices drawn (in draw order), the candidate count, and p1/p2 of the public API."""
    h, w = score.shape
    if flow is None:
        flow = np.zeros((h, w, 2), np.float32)
    p1, p2, count = geo.sample_matches(flow, score.astype(np.float32), n, ratio, seed, backend=backend)
    assert p1.shape == p2.shape and p1.shape[1] == 2 and p1.dtype == np.float64
    idx = (p1[:, 1] * w + p1[:, 0]).astype(np.int64)
    return idx, count, p1, p2


def distinct_scores(rng, h, w) -> np.ndarray:
    return (rng.permutation(h * w) + 1).reshape(h, w).astype(np.float32)


def cpp(score, n, ratio, seed, threads=0):
    from vo_app import _core

    s = np.ascontiguousarray(score, np.float32)
    if s.ndim == 2:
        s = s[None]
    return _core.sample_topk_random_cpu(s, n, ratio, seed, threads)


# ------------------------------------------------------------------ flow masks
def test_occlusion_mask_of_zero_flow_is_all_ones():
    occ = geo.occlusion_mask(np.zeros((24, 40, 2), np.float32))
    assert occ.dtype == np.float32 and occ.shape == (24, 40)
    np.testing.assert_array_equal(occ, 1.0)


def test_occlusion_mask_marks_pixels_nobody_lands_on():
    flow_b = np.zeros((20, 30, 2), np.float32)
    flow_b[..., 0] = 3.0  # every pixel of frame 2 lands 3 px to the right in frame 1
    occ = geo.occlusion_mask(flow_b)
    np.testing.assert_array_equal(occ[:, :3], 0.0)
    np.testing.assert_array_equal(occ[:, 3:], 1.0)
    half = geo.occlusion_mask(np.full((20, 30, 2), 0.5, np.float32))  # sub-pixel: bilinear splat
    assert np.all((half >= 0) & (half <= 1)) and half[0, 0] == pytest.approx(0.25)


def affine_flows(h, w, A, b):
    """Exactly consistent forward/backward flows of the affine map x -> A x + b."""
    g = geo.pixel_grid(h, w).astype(np.float64)
    fwd = g @ A.T + b - g
    bwd = (g - b) @ np.linalg.inv(A).T - g
    return fwd.astype(np.float32), bwd.astype(np.float32)


def test_forward_backward_of_consistent_flows_is_zero():
    h, w = 48, 64
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[...] = (2.5, -1.25)
    d, inside = geo.forward_backward(fwd, -fwd)
    assert d.shape == (h, w) and inside.dtype == bool
    assert d[inside].max() < 1e-5
    A = np.array([[1.02, 0.01], [-0.01, 0.99]])
    fwd, bwd = affine_flows(h, w, A, np.array([1.5, 0.7]))
    d, inside = geo.forward_backward(fwd, bwd)
    assert inside.mean() > 0.8
    assert d[inside].max() < 0.02  # OpenCV's bilinear remap works on a 1/32-pixel grid
    # An inconsistent backward flow shows up as its error.
    d2, _ = geo.forward_backward(fwd, bwd + np.float32(0.5))
    assert np.median(d2[inside]) == pytest.approx(np.sqrt(0.5), abs=0.02)


def test_target_leaving_the_image_gets_zero_fb_score():
    h, w = 20, 40
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0] = 10.0
    m = geo.match_score(fwd, -fwd)
    assert set(m) == {"occ", "fb", "fb_score", "score"}
    np.testing.assert_array_equal(m["fb_score"][:, w - 10:], 0.0)  # x + 10 > w - 1
    np.testing.assert_allclose(m["fb_score"][:, : w - 10], 10.0, rtol=1e-5)  # 1 / (0.1 + 0)
    np.testing.assert_array_equal(m["score"][:, w - 10:], 0.0)
    assert all(v.dtype == np.float32 for v in m.values())
    # Non-finite flow never yields a positive score.
    fwd[3, 4] = np.nan
    assert geo.match_score(fwd, -fwd)["score"][3, 4] == 0.0


def test_sample_flow_is_bilinear():
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(10, 12, 2)).astype(np.float32)
    out = geo.sample_flow(flow, np.array([[3.0, 4.0], [3.5, 4.0]], np.float32))
    np.testing.assert_allclose(out[0], flow[4, 3], atol=1e-6)
    np.testing.assert_allclose(out[1], 0.5 * (flow[4, 3] + flow[4, 4]), atol=0.05)


def test_sample_flow_with_no_points():
    out = geo.sample_flow(np.zeros((10, 12, 2), np.float32), np.zeros((0, 2), np.float32))
    assert out.shape == (0, 2)


def test_inlier_score_map():
    rng = np.random.default_rng(1)
    h, w = 16, 24
    F = rng.normal(size=(3, 3))
    flow = rng.normal(0, 2, (h, w, 2)).astype(np.float32)
    d = geo.epipolar_distance_map(F, flow)
    g = geo.pixel_grid(h, w).reshape(-1, 2).astype(np.float64)
    ref = geo.epipolar_line_distance(F[None], g[None], (g + flow.reshape(-1, 2))[None])[0]
    np.testing.assert_allclose(d.ravel(), ref, rtol=1e-5)
    m = geo.inlier_score_map(np.array([0.0, 0.25, 0.5, 3.0], np.float32), 0.5)
    np.testing.assert_allclose(m, [1.0, 0.8, 0.0, 0.0])


@pytest.mark.skipif(not _ext.has("epipolar_score_map_cpu"), reason="vo_app._core without the epipolar map kernel")
def test_cpp_epipolar_score_map_matches_the_reference():
    from vo_app import _core

    rng = np.random.default_rng(11)
    B, h, w = 2, 20, 28
    flow = rng.normal(0, 1.5, (B, h, w, 2)).astype(np.float32)
    F = rng.normal(size=(B, 3, 3))
    d, score = _core.epipolar_score_map_cpu(flow, F, 0.5)
    assert d.shape == score.shape == (B, h, w)
    for b in range(B):
        ref_d = geo.epipolar_distance_map(F[b], flow[b])
        np.testing.assert_allclose(d[b], ref_d, rtol=1e-4, atol=1e-5)
        near = np.abs(ref_d - 0.5) < 1e-4  # the threshold test may flip exactly at the border
        np.testing.assert_allclose(score[b][~near], geo.inlier_score_map(ref_d, 0.5)[~near], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ sampling: both backends
@pytest.mark.parametrize("backend", BACKENDS)
@PROPS
@given(h=st.integers(2, 24), w=st.integers(2, 24), ratio=st.floats(0.01, 1.0), n=st.integers(1, 300),
       seed=st.integers(0, 2**63 - 1), bad=st.floats(0.0, 0.9), data_seed=st.integers(0, 1000))
def test_sample_is_a_subset_of_the_top_set(backend, h, w, ratio, n, seed, bad, data_seed):
    assume(abs(ratio * h * w % 1.0 - 0.5) > 1e-9)  # exact halves: see test_top_count_parity
    rng = np.random.default_rng(data_seed)
    score = distinct_scores(rng, h, w)
    drop = rng.random((h, w)) < bad
    score[drop] = rng.choice(np.array([0.0, -1.0, np.nan, -np.inf], np.float32), drop.sum())
    idx, count, _, _ = draw(backend, score, n, ratio, seed)
    top = expected_top(score, ratio)
    assert len(top) == top_count(h * w, ratio, int((score > 0).sum()))
    assert len(idx) == min(n, len(top))  # the count itself: test_count_is_the_number_of_candidates
    assert len(np.unique(idx)) == len(idx)  # no duplicates
    assert np.isin(idx, top).all()
    assert (score.ravel()[idx] > 0).all()  # never NaN, zero or negative


@pytest.mark.parametrize("backend,n", [
    ("reference", 10), ("reference", 50), ("reference", 500),
    pytest.param("cpp", 10, marks=needs_cpp), pytest.param("cpp", 50, marks=needs_cpp),
    pytest.param("cpp", 500, marks=needs_cpp)])
def test_count_is_the_number_of_candidates(backend, n):
    rng = np.random.default_rng(9)
    score = distinct_scores(rng, 10, 12)
    score[score < 30] = 0.0  # 91 positive scores, top 20 % = 24 candidates
    idx, count, _, _ = draw(backend, score, n, 0.2, 0)
    assert count == 24
    assert len(idx) == min(n, 24)


@pytest.mark.parametrize("backend", [
    "reference",
    pytest.param("cpp", marks=needs_cpp)])
def test_ties_are_broken_by_lower_index(backend):
    rng = np.random.default_rng(0)
    score = rng.integers(1, 4, (20, 30)).astype(np.float32)  # many equal scores
    idx, count, _, _ = draw(backend, score, 10_000, 0.2, 0)
    assert count == 120
    np.testing.assert_array_equal(np.sort(idx), expected_top(score, 0.2))
    ones = np.ones((4, 5), np.float32)
    idx, _, _, _ = draw(backend, ones, 100, 0.2, 0)
    np.testing.assert_array_equal(np.sort(idx), [0, 1, 2, 3])


def _bracket_scores(kind: str, rng, h: int, w: int) -> np.ndarray:
    if kind == "continuous":
        return rng.gamma(2.0, 1.0, (h, w)).astype(np.float32)
    if kind == "ties":  # a few distinct values: the k-th best sits in a huge tie
        return rng.integers(1, 5, (h, w)).astype(np.float32)
    if kind == "sparse":  # most pixels unusable (zero, negative, NaN)
        s = rng.random((h, w)).astype(np.float32)
        s[rng.random((h, w)) < 0.85] = np.nan
        s[rng.random((h, w)) < 0.3] = 0.0
        return s
    # "strided": every 8th pixel is much better than the rest, so a subsample of every
    # 8th pixel misjudges the top-ratio threshold and the kernel must take its exact path
    s = rng.random(h * w).astype(np.float32)
    s[::8] += 10.0
    return s.reshape(h, w)


@needs_cpp
@pytest.mark.parametrize("kind", ["continuous", "ties", "sparse", "strided"])
@pytest.mark.parametrize("ratio", [0.05, 0.2, 0.6])
def test_cpp_candidate_set_is_exact_on_large_images(kind, ratio):
    """Images large enough for the kernel's subsample-bracketed selection (and, for
    "strided", its exact fallback): drawing n >= k returns exactly the top set."""
    rng = np.random.default_rng(int(ratio * 100) + 1000 * ["continuous", "ties", "sparse", "strided"].index(kind))
    score = _bracket_scores(kind, rng, 96, 128)
    top = expected_top(score, ratio)
    idx, count = cpp(score, score.size, ratio, 5)
    assert int(count[0]) == len(top)
    drawn = idx[0][idx[0] >= 0]
    np.testing.assert_array_equal(np.sort(drawn), top)


@needs_cpp
@pytest.mark.parametrize("hw", [10, 26, 100])
def test_top_count_parity_at_exact_halves(hw):
    score = np.ones((1, hw), np.float32)
    ratio = 0.25 if hw != 100 else 0.125  # ratio * hw = 2.5, 6.5, 12.5
    _, count = cpp(score, 1000, ratio, 0)
    assert len(top_ratio_candidates(score, ratio)) == int(count[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_sample_and_different_seed_different(backend):
    rng = np.random.default_rng(2)
    score = distinct_scores(rng, 30, 40)
    a = draw(backend, score, 50, 0.25, 7)[0]
    b = draw(backend, score, 50, 0.25, 7)[0]
    np.testing.assert_array_equal(a, b)
    others = [draw(backend, score, 50, 0.25, s)[0] for s in (8, 9, 123456789)]
    assert all(not np.array_equal(a, o) for o in others)
    assert all(len(np.intersect1d(a, o)) < 40 for o in others)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fewer_candidates_than_n_returns_all_of_them(backend):
    score = np.zeros((8, 9), np.float32)
    pos = np.array([3, 10, 11, 40, 41, 70, 71])
    score.ravel()[pos] = np.arange(1, 8)
    score.ravel()[[0, 1, 2]] = [np.nan, -3.0, -np.inf]
    idx, count, p1, p2 = draw(backend, score, 20, 1.0, 0)
    assert count == 7 and len(idx) == 7
    np.testing.assert_array_equal(np.sort(idx), pos)
    idx, count, _, _ = draw(backend, np.zeros((5, 5), np.float32), 20, 0.5, 0)
    assert count == 0 and len(idx) == 0
    idx, count, _, _ = draw(backend, np.full((5, 5), np.nan, np.float32), 20, 0.5, 0)
    assert count == 0 and len(idx) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_follow_the_flow(backend):
    rng = np.random.default_rng(3)
    h, w = 12, 16
    flow = rng.normal(0, 3, (h, w, 2)).astype(np.float32)
    idx, count, p1, p2 = draw(backend, distinct_scores(rng, h, w), 30, 0.5, 1, flow=flow)
    np.testing.assert_array_equal(p1, np.stack([idx % w, idx // w], -1))
    np.testing.assert_allclose(p2 - p1, flow.reshape(-1, 2)[idx], atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_uniform_within_the_top_set(backend):
    rng = np.random.default_rng(4)
    score = distinct_scores(rng, 5, 6)  # 30 pixels
    ratio, n, trials = 0.5, 5, 3000  # k = 15 candidates
    top = expected_top(score, ratio)
    counts = np.zeros(30, np.int64)
    first = np.zeros(30, np.int64)
    for s in range(trials):
        idx = draw(backend, score, n, ratio, s)[0]
        counts[idx] += 1
        first[idx[0]] += 1
    assert counts[np.setdiff1d(np.arange(30), top)].sum() == 0
    expected = trials * n / len(top)  # 1000 per candidate
    obs = counts[top]
    assert np.abs(obs - expected).max() < 0.12 * expected
    chi2 = float(np.sum((obs - expected) ** 2 / expected))
    assert chi2 < 45.0  # df = 14 (smaller still without replacement); p < 1e-4
    # The first draw is uniform too (no position bias in the shuffle).
    assert np.abs(first[top] - trials / len(top)).max() < 0.35 * trials / len(top)


# ------------------------------------------------------------------ the C++ kernel's own interface
@needs_cpp
def test_cpp_padding_and_argument_checks():
    score = np.zeros((1, 4, 4), np.float32)
    score[0, 1, 1] = 2.0
    score[0, 2, 3] = 1.0
    idx, count = cpp(score, 6, 1.0, 0)
    assert idx.shape == (1, 6) and idx.dtype == np.int64 and count.tolist() == [2]
    assert sorted(idx[0, :2].tolist()) == [5, 11]
    np.testing.assert_array_equal(idx[0, 2:], -1)
    for bad in [dict(n=0), dict(ratio=0.0), dict(ratio=1.5)]:
        kw = dict(n=4, ratio=0.5) | bad
        with pytest.raises(ValueError):
            cpp(score, kw["n"], kw["ratio"], 0)
    from vo_app import _core
    with pytest.raises(ValueError):
        _core.sample_topk_random_cpu(np.ones((4, 4), np.float32), 2, 0.5, 0)  # not [B,H,W]


@needs_cpp
def test_cpp_gather_reads_any_flow_layout_and_rejects_bad_indices():
    from vo_app import _core
    rng = np.random.default_rng(4)
    B, h, w = 2, 5, 7
    flow_hw2 = rng.normal(size=(B, h, w, 2)).astype(np.float32)  # [B,H,W,2] storage
    idx = np.array([[0, 34, 12, -1], [6, 7, 28, 3]], np.int64)
    for flow in (flow_hw2.transpose(0, 3, 1, 2), np.ascontiguousarray(flow_hw2.transpose(0, 3, 1, 2))):
        p1, p2 = _core.gather_matches_cpu(flow, idx)
        for b in range(B):
            for j, k in enumerate(idx[b]):
                if k < 0:
                    assert np.isnan(p1[b, j]).all() and np.isnan(p2[b, j]).all()
                    continue
                y, x = divmod(int(k), w)
                np.testing.assert_array_equal(p1[b, j], [x, y])
                np.testing.assert_array_equal(p2[b, j], [x + float(flow_hw2[b, y, x, 0]), y + float(flow_hw2[b, y, x, 1])])
    with pytest.raises(ValueError, match="H \\* W"):
        _core.gather_matches_cpu(flow_hw2.transpose(0, 3, 1, 2), np.array([[0, h * w]] * B, np.int64))


@needs_cpp
def test_cpp_outputs_recycle_memory_without_aliasing():
    """Large outputs come from a pool of blocks freed by earlier outputs: a dropped output's
    memory is reused, and outputs that are alive never share memory or change."""
    from vo_app import _core
    rng = np.random.default_rng(2)
    B, h, w, n = 2, 64, 96, 6000  # p1, p2 [2, 6000, 2] float64: 192 KB each, pooled
    score = rng.random((B, h, w), dtype=np.float32) + 0.1
    flow = rng.normal(size=(B, 2, h, w)).astype(np.float32)
    first = _core.sample_matches_cpu(score, flow, n, 1.0, 7)
    kept = [a.copy() for a in first]
    second = _core.sample_matches_cpu(score, flow, n, 1.0, 8)
    for a, b in zip(first, second):
        assert not np.shares_memory(a, b)
    for a, b in zip(first, kept):  # the second call did not write into the first's outputs
        np.testing.assert_array_equal(a, b)
    address = first[2].ctypes.data
    del first, a, b
    third = _core.sample_matches_cpu(score, flow, n, 1.0, 7)
    assert address in {x.ctypes.data for x in third}  # a freed block was taken again
    for x, y in zip(third, kept):  # and the recycled output is complete
        np.testing.assert_array_equal(x, y)


@needs_cpp
def test_cpp_batch_items_match_single_calls():
    rng = np.random.default_rng(5)
    B, h, w, n, ratio, seed = 5, 12, 10, 15, 0.3, 42
    scores = np.stack([distinct_scores(rng, h, w) for _ in range(B)])
    scores[2] = 0.0  # an item without candidates
    scores[3][scores[3] < 100] = np.nan  # an item with fewer candidates than n
    idx, count = cpp(scores, n, ratio, seed)
    assert idx.shape == (B, n)
    for b in range(B):
        single_idx, single_count = cpp(scores[b], n, ratio, seed)
        assert count[b] == single_count[0]
        got = idx[b][idx[b] >= 0]
        assert len(got) == min(n, count[b]) and (idx[b][len(got):] == -1).all()
        if count[b] <= n:  # all candidates: the same set as the single call
            np.testing.assert_array_equal(np.sort(got), np.sort(single_idx[0][: count[b]]))
        assert np.isin(got, expected_top(scores[b], ratio)).all()
    # Item 0 draws exactly as a single call; item b draws from RNG stream b (counter-based), so
    # it does not depend on the other items or on the thread count.
    np.testing.assert_array_equal(idx[0], cpp(scores[0], n, ratio, seed)[0][0])
    other = scores.copy()
    other[[0, 1, 4]] = np.stack([distinct_scores(rng, h, w) for _ in range(3)])
    np.testing.assert_array_equal(cpp(other, n, ratio, seed)[0][3], idx[3])
    for threads in (1, 2, 7):
        i2, c2 = cpp(scores, n, ratio, seed, threads=threads)
        np.testing.assert_array_equal(i2, idx)
        np.testing.assert_array_equal(c2, count)


@needs_cpp
@pytest.mark.parametrize("ratio", [0.1, 0.2, 0.37, 1.0])
def test_cpp_and_reference_pick_the_same_top_set_without_ties(ratio):
    rng = np.random.default_rng(10)
    fwd = rng.normal(0, 2, (32, 48, 2)).astype(np.float32)
    bwd = -fwd + rng.normal(0, 0.3, fwd.shape).astype(np.float32)
    score = geo.match_score(fwd, bwd)["score"]  # a real TrianFlow score: continuous, some zeros
    pos = score[score > 0]
    assert len(np.unique(pos)) == len(pos)
    ref = top_ratio_candidates(score, ratio)
    idx, count = cpp(score, score.size, ratio, 0)
    assert count[0] == len(ref)
    np.testing.assert_array_equal(np.sort(idx[0][: count[0]]), ref)
    np.testing.assert_array_equal(ref, expected_top(score, ratio))


# ------------------------------------------------------------------ CUDA parity
def _cuda_ready() -> bool:
    try:
        import torch
        from vo_app import _core
    except ImportError:
        return False
    return bool(torch.cuda.is_available() and getattr(_core, "cuda_compiled", False) and _core.cuda_device_count() > 0)


@needs_cpp
@pytest.mark.skipif(not _cuda_ready(), reason="needs torch with CUDA and vo_app._core built with a CUDA device")
@pytest.mark.parametrize("case", ["distinct", "ties", "nan", "few"])
def test_cuda_matches_cpu(case):
    import torch
    from vo_app import _core

    rng = np.random.default_rng(6)
    B, h, w, n, ratio, seed = 3, 64, 96, 500, 0.2, 1234
    scores = np.stack([rng.random((h, w), dtype=np.float32) + 0.01 for _ in range(B)])
    if case == "ties":
        scores = np.round(scores * 4).astype(np.float32)
    elif case == "nan":
        scores[:, ::3] = np.nan
        scores[:, 1::5] = -1.0
    elif case == "few":
        scores[scores < 0.995] = 0.0
    dev = torch.device("cuda")
    s = torch.from_numpy(scores).to(dev).contiguous()
    out_idx = torch.empty((B, n), dtype=torch.int64, device=dev)
    out_count = torch.empty((B,), dtype=torch.int64, device=dev)
    stream = torch.cuda.current_stream()
    seeds = torch.full((B,), seed, dtype=torch.int64, device=dev)
    _core.sample_topk_random_cuda(s.data_ptr(), B, h * w, n, ratio, seeds.data_ptr(), out_idx.data_ptr(),
                                  out_count.data_ptr(), stream.cuda_stream)
    torch.cuda.synchronize()
    idx, count = cpp(scores, n, ratio, seed)
    np.testing.assert_array_equal(out_count.cpu().numpy(), count)
    np.testing.assert_array_equal(out_idx.cpu().numpy(), idx)
