"""CUDA hygiene of vo_app._core: launch checks, device guard, argument checks, the CUDA sampler.

Three kinds of tests:

* static checks of csrc/ (every kernel launch is followed by VO_CUDA_CHECK_LAUNCH naming the
  kernel, every CUDA runtime call is wrapped in VO_CUDA_CHECK or marked "vo: unchecked"), the
  extension's ``cuda_compiled`` report, the documented errors of the CPU path on empty inputs,
  the device check of the Python wrappers, and a NumPy model of the CUDA sampler's parallel
  Fisher-Yates checked against the C++ CPU sampler: these run everywhere;
* tests of the CUDA entry points without a GPU (argument checks come before the device check):
  they need an extension built with this interface (``cuda_api_version >= 2``) and skip on an
  older build;
* CUDA against CPU (epipolar map, sampler and gather, RANSAC, device mismatch, empty inputs):
  they skip when torch sees no GPU.  The sampler draws the CPU's sequence (compared exactly);
  RANSAC and the epipolar map sum in other orders than the CPU, so they are compared within
  tolerances (RANSAC: inliers within 1e-3, pose within 1e-6 deg; not iteration counts).
"""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vo_app import geometry as geo
from vo_app.geometry import _ext, batched

from test_core_batched import K, scene  # noqa: E402  (the shared scene generator)

CSRC = Path(__file__).resolve().parents[1] / "csrc"
core = _ext._core

needs_core = pytest.mark.skipif(core is None, reason="vo_app._core is not built")
needs_gpu = pytest.mark.skipif(
    not (torch.cuda.is_available() and core is not None and getattr(core, "cuda_compiled", False)
         and core.cuda_device_count() > 0),
    reason="needs a CUDA device visible to torch and an extension built with CUDA")
needs_cuda_api2 = pytest.mark.skipif(
    core is None or not getattr(core, "cuda_compiled", False) or getattr(core, "cuda_api_version", 0) < 2,
    reason="the loaded vo_app._core is not a CUDA build with cuda_api_version >= 2 (an older build lacks the "
           "device argument and the argument checks of the CUDA entry points; rebuild to run this)")
CUDA_ENTRY_POINTS = ("sample_topk_random_cuda", "ransac_fundamental_cuda", "epipolar_score_map_cuda")


# ------------------------------------------------------------------ static checks of csrc/
def _code(line: str) -> str:
    """The line without string literals and without its // comment."""
    return re.sub(r'"(\\.|[^"\\])*"', '""', line).split("//", 1)[0]


def unchecked_launches(text: str, window: int = 3) -> list[str]:
    """Kernel launches (``name<<<...>>>(...);``) not followed, within ``window`` lines after the
    end of the launch statement, by ``VO_CUDA_CHECK_LAUNCH("name")``."""
    lines = text.splitlines()
    bad = []
    for i, line in enumerate(lines):
        code = _code(line)
        if "<<<" not in code:
            continue
        m = re.search(r"(\w+)\s*<<<", code)
        name = m.group(1) if m else "?"
        end = i
        while end < len(lines) and not _code(lines[end]).rstrip().endswith(";"):
            end += 1
        after = "\n".join(lines[end + 1:end + 1 + window])
        if f'VO_CUDA_CHECK_LAUNCH("{name}")' not in after:
            bad.append(f"line {i + 1}: {name}")
    return bad


# Runtime API functions that return no cudaError_t.
_NOT_ERRORS = {"cudaGetErrorName", "cudaGetErrorString"}


def unchecked_api_calls(text: str) -> list[str]:
    """CUDA runtime calls on lines without VO_CUDA_CHECK( before them or a "vo: unchecked" mark."""
    bad = []
    for i, line in enumerate(text.splitlines()):
        if "vo: unchecked" in line:
            continue
        code = _code(line)
        for m in re.finditer(r"\b(cuda[A-Z]\w*)\s*\(", code):
            if m.group(1) in _NOT_ERRORS:
                continue
            if "VO_CUDA_CHECK(" not in code[:m.start()]:
                bad.append(f"line {i + 1}: {m.group(1)}")
    return bad


def _cuda_sources() -> list[Path]:
    return sorted(CSRC.rglob("*.cu")) + sorted((CSRC / "cuda").glob("*.h"))


def test_static_checkers_catch_a_missing_check():
    launch = 'k<<<1, 32, 0, s>>>(a,\n  b);\nVO_CUDA_CHECK_LAUNCH("k");\n'
    assert unchecked_launches(launch) == []
    assert unchecked_launches('k<<<1, 32>>>(a);\nfoo();\n') == ["line 1: k"]
    assert unchecked_launches('k<<<1, 32>>>(a);\nVO_CUDA_CHECK_LAUNCH("other");\n') == ["line 1: k"]
    assert unchecked_launches('k<<<1, 32>>>(a);\n\n\n\nVO_CUDA_CHECK_LAUNCH("k");\n') == ["line 1: k"]
    assert unchecked_api_calls("VO_CUDA_CHECK(cudaMemsetAsync(p, 0, 4, s));") == []
    assert unchecked_api_calls("cudaMemsetAsync(p, 0, 4, s);") == ["line 1: cudaMemsetAsync"]
    assert unchecked_api_calls("(void)cudaFreeAsync(p, s);  // vo: unchecked (destructor)") == []


def test_every_kernel_launch_is_checked():
    sources = sorted(CSRC.rglob("*.cu"))
    assert sources, "no .cu sources under csrc/"
    launches = sum(_code(line).count("<<<") for p in sources for line in p.read_text().splitlines())
    assert launches >= 11  # 5 in sampling.cu, 6 in ransac.cu
    bad = {p.name: unchecked_launches(p.read_text()) for p in sources}
    assert not any(bad.values()), f"kernel launches without VO_CUDA_CHECK_LAUNCH(name) right after: {bad}"


def test_every_cuda_api_call_is_checked():
    bad = {p.name: unchecked_api_calls(p.read_text()) for p in _cuda_sources()}
    assert not any(bad.values()), f"CUDA calls neither in VO_CUDA_CHECK nor marked 'vo: unchecked': {bad}"


def test_no_raw_device_allocation_outside_device_buffer():
    """cudaMallocAsync/cudaFreeAsync only inside DeviceBuffer (cuda_check.h), so no exception leaks memory."""
    for p in sorted(CSRC.rglob("*.cu")):
        text = "\n".join(_code(line) for line in p.read_text().splitlines())
        assert not re.search(r"\bcuda(Malloc|Free)(Async)?\s*\(", text), p.name
        assert not re.search(r"<<<\s*1\s*,\s*1\s*[,>]", text), f"{p.name}: a single-thread launch"


# ------------------------------------------------------------------ what the extension reports
@needs_core
def test_cuda_compiled_is_reported_consistently():
    compiled = core.cuda_compiled
    assert isinstance(compiled, bool)
    count = core.cuda_device_count()
    assert isinstance(count, int) and count >= 0
    for name in CUDA_ENTRY_POINTS:
        assert hasattr(core, name) == compiled, name
    if not compiled:
        assert count == 0
    if torch.cuda.is_available() and compiled:
        assert count == torch.cuda.device_count()
    if not compiled or count == 0:  # CUDA tensors would fall back to the CPU kernels
        assert batched._cuda_ok() is False


@needs_core
def test_cuda_api_version_matches_cuda_compiled():
    if not hasattr(core, "cuda_api_version"):
        pytest.skip("the loaded vo_app._core predates cuda_api_version (an older build; rebuild to run this)")
    assert core.cuda_api_version == (2 if core.cuda_compiled else 0)


# ------------------------------------------------------------------ CPU path: empty inputs, documented errors
@needs_core
def test_sample_matches_empty_inputs_cpu():
    with pytest.raises(ValueError, match="n must be positive"):
        batched.sample_matches(torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 4), n=0)
    with pytest.raises(ValueError, match="n must be positive"):
        batched.sample_matches(torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 4), n=-3)
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        batched.sample_matches(torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 4), n=3, ratio=0.0)
    m = batched.sample_matches(torch.zeros(0, 2, 4, 4), torch.ones(0, 4, 4), n=5)  # B == 0: empty outputs
    assert m.p1.shape == (0, 5, 2) and m.count.shape == (0,) and m.mask.shape == (0, 5)
    m = batched.sample_matches(torch.zeros(2, 2, 0, 4), torch.ones(2, 0, 4), n=5)  # hw == 0: nothing drawn
    assert m.count.tolist() == [0, 0] and not m.mask.any() and not m.valid.any()
    assert torch.isnan(m.p1).all() and torch.isnan(m.p2).all()


@needs_core
def test_ransac_empty_inputs_cpu():
    f64 = torch.float64
    r = batched.ransac_fundamental(torch.zeros(0, 10, 2, dtype=f64), torch.zeros(0, 10, 2, dtype=f64))
    assert r.F.shape == (0, 3, 3) and r.inliers.shape == (0, 10) and r.status.shape == (0,)
    r = batched.ransac_fundamental(torch.zeros(2, 0, 2, dtype=f64), torch.zeros(2, 0, 2, dtype=f64))
    assert r.status.tolist() == [1, 1] and r.iters.tolist() == [0, 0] and r.inliers.shape == (2, 0)
    assert not r.F.any()
    r = batched.ransac_fundamental(torch.rand(1, 7, 2, dtype=f64), torch.rand(1, 7, 2, dtype=f64))
    assert r.status.tolist() == [1]  # fewer than 8 matches: too few points
    p = torch.rand(1, 10, 2, dtype=f64)
    for kw, msg in [({"max_iters": 0}, "max_iters must be >= 1"), ({"threshold": 0.0}, "threshold must be positive"),
                    ({"confidence": 1.0}, r"confidence must be in \(0, 1\)")]:
        with pytest.raises(ValueError, match=msg):
            batched.ransac_fundamental(p, p, **kw)


@needs_core
def test_epipolar_map_empty_inputs_cpu():
    d, s = batched.epipolar_score_map(torch.zeros(0, 2, 3, 5), torch.zeros(0, 3, 3))
    assert d.shape == s.shape == (0, 3, 5)
    d, s = batched.epipolar_score_map(torch.zeros(2, 2, 0, 5), torch.zeros(2, 3, 3))
    assert d.shape == s.shape == (2, 0, 5)


# ------------------------------------------------------------------ the device check of the Python wrappers
def test_device_check_names_the_tensors():
    a, b = torch.zeros(2), torch.zeros(2, device="meta")
    with pytest.raises(ValueError, match=r"same device, got p1 on cpu, p2 on meta"):
        batched._cuda_device(p1=a, p2=b)
    with pytest.raises(ValueError, match=r"flow on meta, F on cpu"):
        batched._cuda_device(flow=b, F=a, weights=None)


def test_device_check_refuses_an_extension_without_the_device_argument(monkeypatch):
    monkeypatch.setattr(batched._ext, "_core", SimpleNamespace(cuda_compiled=True))
    with pytest.raises(RuntimeError, match="rebuild"):
        batched._cuda_device(p1=torch.zeros(1), p2=torch.zeros(1))


# ------------------------------------------------------------------ the CUDA entry points without a GPU
@needs_cuda_api2
def test_cuda_entry_points_check_arguments_before_the_device():
    # Null pointers: the checks must raise before anything is dereferenced or any device is needed.
    with pytest.raises(ValueError, match="n must be positive"):
        core.sample_topk_random_cuda(0, 1, 16, 0, 0.5, 0, 0, 0, 0, device=0)
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        core.sample_topk_random_cuda(0, 1, 16, 4, 1.5, 0, 0, 0, 0, device=0)
    with pytest.raises(ValueError, match="2\\^31 - 1 pixels"):
        core.sample_topk_random_cuda(0, 1, 1 << 31, 4, 0.5, 0, 0, 0, 0, device=0)
    with pytest.raises(ValueError, match="n must be < 2\\^31"):
        core.sample_topk_random_cuda(0, 1, 16, 1 << 31, 0.5, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="max_iters must be >= 1"):
        core.ransac_fundamental_cuda(0, 0, 0, 1, 10, 0.5, 0.99, 0, 0, 0, 0, 0, 0, 0, 0, device=0)
    with pytest.raises(ValueError, match="B and N must be >= 0"):
        core.ransac_fundamental_cuda(0, 0, 0, -1, 10, 0.5, 0.99, 10, 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="B, H and W must be >= 0"):
        core.epipolar_score_map_cuda(0, 0, 1, -1, 4, 0.5, 0, 0, 0, device=0)


@needs_cuda_api2
def test_cuda_entry_points_without_a_device_raise_runtime_error():
    if core.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        core.epipolar_score_map_cuda(0, 0, 0, 4, 4, 0.5, 0, 0, 0, device=0)


# ------------------------------------------------------------------ NumPy model of the CUDA sampler
_U64 = np.uint64


def _mix64(z):
    z = z + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def counter_rand(seed, stream: int, step) -> np.ndarray:
    """csrc/include/vo_common.h counter_rand, vectorised over seed and step (uint64 arrays)."""
    with np.errstate(over="ignore"):
        seed = np.asarray(seed, np.uint64)
        step = np.asarray(step, np.uint64)
        a = _mix64(seed ^ _U64(0xA0761D6478BD642F))
        return _mix64(a ^ _mix64(_U64(stream) * _U64(0xE7037ED1A0B428DB) + step))


def candidates(score: np.ndarray, ratio: float) -> np.ndarray:
    """Top-ratio candidates in rank order (score descending, ties by lower index), as both kernels pick them."""
    s = np.ascontiguousarray(score, np.float32).ravel()
    usable = s > 0
    inv = np.where(usable, np.uint32(0x7FFFFFFF) - s.view(np.uint32), np.uint32(0x7FFFFFFF))
    k = min(int(np.floor(ratio * s.size + 0.5)), int(usable.sum()))
    return np.argsort(inv, kind="stable")[:k]


def cpu_draw_model(score: np.ndarray, n: int, ratio: float, seed: int) -> np.ndarray:
    """csrc/cpu/sampling.cpp: partial Fisher-Yates over the candidates in index order."""
    idx = np.sort(candidates(score, ratio)).astype(np.int64)
    k = idx.size
    out = np.full(n, -1, np.int64)
    for i in range(min(k, n)):
        r = int(counter_rand(_U64(seed), 0, _U64(i)))
        j = i + (((r >> 32) * (k - i)) >> 32)
        idx[i], idx[j] = idx[j], idx[i]
        out[i] = idx[i]
    return out


def parallel_draw_model(score: np.ndarray, n: int, ratio: float, seed: int) -> np.ndarray:
    """csrc/cuda/sampling.cu: the same Fisher-Yates traced back per drawn match, as each CUDA
    thread does it (binary search in the (J_s, s) pairs sorted by J_s, ties by s)."""
    idx = np.sort(candidates(score, ratio)).astype(np.int64)
    k = idx.size
    m = min(k, n)
    s = np.arange(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        r = counter_rand(_U64(seed), 0, s)
        J = (s + (((r >> _U64(32)) * (_U64(k) - s)) >> _U64(32))).astype(np.int64)
    order = np.argsort(J, kind="stable")
    pairs = list(zip(J[order].tolist(), order.tolist()))  # sorted lexicographically
    out = np.full(n, -1, np.int64)
    for i in range(m):
        p, before = int(J[i]), i
        while True:
            lo, hi = 0, len(pairs)
            while lo < hi:  # first pair >= (p, before)
                mid = (lo + hi) // 2
                if pairs[mid] < (p, before):
                    lo = mid + 1
                else:
                    hi = mid
            if lo == 0 or pairs[lo - 1][0] != p:
                break
            p = before = pairs[lo - 1][1]
        out[i] = idx[p]
    return out


def _scores(rng, h=24, w=40, ties=False):
    s = rng.random((h, w)).astype(np.float32)
    if ties:
        s = np.round(s * 8).astype(np.float32) / 8  # many equal scores, some zeros
    s[rng.random((h, w)) < 0.1] = np.nan
    return s


@needs_core
@pytest.mark.parametrize("ties", [False, True])
def test_numpy_rng_port_reproduces_the_cpu_sampler(ties):
    """The NumPy port of counter_rand, of the candidate rule and of the CPU's sequential
    Fisher-Yates reproduces the C++ CPU draw exactly."""
    rng = np.random.default_rng(5)
    for seed in (0, 7, 2**63 + 11):
        s = _scores(rng, ties=ties)
        idx, count = core.sample_topk_random_cpu(s[None], 50, 0.3, seed)
        np.testing.assert_array_equal(idx[0], cpu_draw_model(s, 50, 0.3, seed))
        assert int(count[0]) == candidates(s, 0.3).size


@needs_core
def test_parallel_fisher_yates_trace_reproduces_the_cpu_draw():
    """The algorithm of the CUDA sampler (each draw traced back through the swaps, independently
    of the others) gives the CPU's sequence, also when n is close to k and swap targets collide."""
    rng = np.random.default_rng(1)
    for trial in range(30):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        s = _scores(rng, h, w, ties=trial % 2 == 1)
        n = int(rng.integers(1, h * w + 10))
        ratio, seed = float(rng.uniform(0.05, 1.0)), int(rng.integers(0, 2**63))
        idx, _ = core.sample_topk_random_cpu(s[None], n, ratio, seed)
        np.testing.assert_array_equal(parallel_draw_model(s, n, ratio, seed), idx[0], err_msg=f"trial {trial}")


# ------------------------------------------------------------------ CUDA against CPU (skip without a GPU)
def _scene(rng):
    """Matches of a random scene with noise and 30 % outliers (the generator of tests/test_core_batched.py)."""
    return scene(rng, n=3000, noise=0.1, outliers=0.3)[:2]


@needs_cuda_api2
@needs_gpu
def test_cuda_epipolar_map_matches_cpu():
    rng = np.random.default_rng(4)
    flow = torch.from_numpy(rng.normal(0, 2, (3, 2, 37, 53)).astype(np.float32))
    F = torch.from_numpy(rng.normal(size=(3, 3, 3)))
    d, s = batched.epipolar_score_map(flow, F, 0.5)
    dg, sg = batched.epipolar_score_map(flow.cuda(), F.cuda(), 0.5)
    assert dg.device.type == "cuda"
    torch.testing.assert_close(dg.cpu(), d, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sg.cpu(), s, rtol=1e-5, atol=1e-5)


@needs_cuda_api2
@needs_gpu
def test_cuda_sampler_and_gather_semantics():
    rng = np.random.default_rng(9)
    B, H, W, n = 4, 48, 64, 300
    score = np.stack([_scores(rng, H, W, ties=b % 2 == 1) for b in range(B)])
    score[3] = 0
    score[3, :2, :5] = 1.0  # 10 candidates only
    flow = torch.from_numpy(rng.normal(0, 3, (B, 2, H, W)).astype(np.float32))
    seeds = np.array([3, 4, 5, 6])
    cpu = batched.sample_matches(flow, torch.from_numpy(score), n=n, ratio=0.2, seed=seeds)
    gpu = batched.sample_matches(flow.cuda(), torch.from_numpy(score).cuda(), n=n, ratio=0.2, seed=seeds)
    assert gpu.p1.device.type == "cuda"
    for name in ("count", "valid", "mask"):
        assert torch.equal(getattr(gpu, name).cpu(), getattr(cpu, name)), name
    # The same draws (the CUDA sampler traces the CPU's Fisher-Yates) and the same gather.
    assert torch.equal(gpu.p1.cpu().nan_to_num(-1), cpu.p1.nan_to_num(-1))
    torch.testing.assert_close(gpu.p2.cpu(), cpu.p2, equal_nan=True)
    for b in range(B):
        m = gpu.mask[b].cpu()
        p1, p2 = gpu.p1[b].cpu()[m], gpu.p2[b].cpu()[m]
        pix = (p1[:, 1] * W + p1[:, 0]).long().numpy()
        assert len(set(pix.tolist())) == pix.size and set(pix.tolist()) <= set(candidates(score[b], 0.2).tolist())
        x, y = p1[:, 0].long(), p1[:, 1].long()  # the gather: p2 = p1 + flow at p1
        torch.testing.assert_close(p2 - p1, flow[b, :, y, x].T.double())
        assert torch.isnan(gpu.p1[b][~gpu.mask[b]]).all()
    again = batched.sample_matches(flow.cuda(), torch.from_numpy(score).cuda(), n=n, ratio=0.2, seed=seeds)
    assert torch.equal(again.p1.nan_to_num(-1), gpu.p1.nan_to_num(-1))  # same seed, same sample
    one = batched.sample_matches(flow[1:2].cuda(), torch.from_numpy(score[1:2]).cuda(), n=n, ratio=0.2, seed=4)
    assert torch.equal(one.p1[0].nan_to_num(-1), gpu.p1[1].nan_to_num(-1))  # a batch equals single calls


@needs_cuda_api2
@needs_gpu
def test_cuda_ransac_parity_semantics():
    """Same inliers within a tolerance and the same pose within 1e-6 deg; iteration counts may differ
    (CPU and CUDA sum in different orders)."""
    rng = np.random.default_rng(7)
    data = [_scene(rng) for _ in range(6)]
    P1 = torch.from_numpy(np.stack([d[0] for d in data]))
    P2 = torch.from_numpy(np.stack([d[1] for d in data]))
    cpu = batched.ransac_fundamental(P1, P2, threshold=0.5, seed=3, check_planar=False)
    gpu = batched.ransac_fundamental(P1.cuda(), P2.cuda(), threshold=0.5, seed=3, check_planar=False)
    assert torch.equal(cpu.status, gpu.status.cpu())
    assert (cpu.inliers != gpu.inliers.cpu()).float().mean() < 1e-3
    Kb = torch.from_numpy(np.broadcast_to(K, (6, 3, 3)).copy())
    Rc, tc, _, _ = batched.pose_from_fundamental(cpu.F, Kb, P1, P2, cpu.inliers)
    Rg, tg, _, _ = batched.pose_from_fundamental(gpu.F.cpu(), Kb, P1, P2, gpu.inliers.cpu())
    for b in range(6):
        dR = np.degrees(geo.rotation_angle(Rc[b].numpy().T @ Rg[b].numpy()))
        # atan2(|a x b|, a.b): arccos of the dot product cannot resolve angles under ~1e-6 deg
        # (one ulp of 1.0 is 1.2e-6 deg; on an H100 that ulp failed this test)
        dt = np.degrees(np.arctan2(np.linalg.norm(np.cross(tc[b].numpy(), tg[b].numpy())), float(tc[b] @ tg[b])))
        assert dR < 1e-6 and dt < 1e-6, (b, dR, dt)


@needs_cuda_api2
@needs_gpu
def test_cuda_device_mismatch_raises_value_error():
    p = torch.rand(1, 20, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"p1 on cuda:\d, p2 on cpu"):
        batched.ransac_fundamental(p.cuda(), p)
    with pytest.raises(ValueError, match=r"weights on cpu"):
        batched.ransac_fundamental(p.cuda(), p.cuda(), torch.ones(1, 20, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"score on cuda:\d, flow on cpu"):
        batched.sample_matches(torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 4).cuda(), n=3)
    with pytest.raises(ValueError, match=r"flow on cuda:\d, F on cpu"):
        batched.epipolar_score_map(torch.zeros(1, 2, 4, 4).cuda(), torch.eye(3)[None])
    # The entry points refuse host memory themselves (before any kernel could fault on it).
    host_flow = torch.zeros(1, 4, 4, 2)
    F = torch.eye(3, dtype=torch.float64)[None].cuda()
    d, s = torch.empty(1, 4, 4, device="cuda"), torch.empty(1, 4, 4, device="cuda")
    with pytest.raises(ValueError, match="flow is not device memory"):
        core.epipolar_score_map_cuda(host_flow.data_ptr(), F.data_ptr(), 1, 4, 4, 0.5, d.data_ptr(), s.data_ptr(), 0,
                                     device=d.device.index)
    with pytest.raises(ValueError, match="flow is not device memory"):  # device taken from the first pointer
        core.epipolar_score_map_cuda(host_flow.data_ptr(), F.data_ptr(), 1, 4, 4, 0.5, d.data_ptr(), s.data_ptr(), 0)


@needs_cuda_api2
@needs_gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_cuda_device_guard_runs_on_the_tensors_device_and_restores_the_current_one():
    rng = np.random.default_rng(2)
    flow = torch.from_numpy(rng.normal(0, 2, (2, 2, 16, 24)).astype(np.float32))
    F = torch.from_numpy(rng.normal(size=(2, 3, 3)))
    torch.cuda.set_device(0)
    d1, _ = batched.epipolar_score_map(flow.to("cuda:1"), F.to("cuda:1"))
    assert d1.device == torch.device("cuda:1") and torch.cuda.current_device() == 0
    torch.testing.assert_close(d1.cpu(), batched.epipolar_score_map(flow, F)[0], rtol=1e-5, atol=1e-5)


@needs_cuda_api2
@needs_gpu
def test_cuda_empty_inputs_match_cpu():
    with pytest.raises(ValueError, match="n must be positive"):
        batched.sample_matches(torch.zeros(1, 2, 4, 4).cuda(), torch.ones(1, 4, 4).cuda(), n=0)
    m = batched.sample_matches(torch.zeros(0, 2, 4, 4).cuda(), torch.ones(0, 4, 4).cuda(), n=5)
    assert m.p1.shape == (0, 5, 2)
    m = batched.sample_matches(torch.zeros(2, 2, 0, 4).cuda(), torch.ones(2, 0, 4).cuda(), n=5)
    assert m.count.tolist() == [0, 0] and not m.mask.any() and torch.isnan(m.p1).all()
    f64 = torch.float64
    r = batched.ransac_fundamental(torch.zeros(0, 10, 2, dtype=f64).cuda(), torch.zeros(0, 10, 2, dtype=f64).cuda())
    assert r.status.shape == (0,)
    r = batched.ransac_fundamental(torch.zeros(2, 0, 2, dtype=f64).cuda(), torch.zeros(2, 0, 2, dtype=f64).cuda())
    assert r.status.tolist() == [1, 1] and r.iters.tolist() == [0, 0]
    with pytest.raises(ValueError, match="max_iters must be >= 1"):
        batched.ransac_fundamental(torch.rand(1, 10, 2).cuda(), torch.rand(1, 10, 2).cuda(), max_iters=0)
    d, _ = batched.epipolar_score_map(torch.zeros(2, 2, 0, 5).cuda(), torch.zeros(2, 3, 3).cuda())
    assert d.shape == (2, 0, 5)
