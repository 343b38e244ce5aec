"""Batched torch API over the C++/CUDA core: dispatches on the tensor's device.

CPU tensors go to the threaded C++ kernels (zero-copy through NumPy); CUDA tensors go to
the CUDA kernels with the current stream.  When the CUDA path cannot run (no device, or a
build without CUDA), the call falls back to the CPU kernels and warns once.

Shapes follow kornia's convention: batch first, checked on entry.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from . import _ext

_warned = False


def _fallback(why: str) -> None:
    global _warned
    if not _warned:
        warnings.warn(f"vo_app: CUDA geometry kernels unavailable ({why}); using the CPU kernels", RuntimeWarning)
        _warned = True


def _cuda_ok() -> bool:
    core = _ext._core
    if core is None or not getattr(core, "cuda_compiled", False):
        _fallback("extension built without CUDA")
        return False
    if core.cuda_device_count() <= 0:
        _fallback("no CUDA device")
        return False
    return True


def _cuda_device(**tensors: torch.Tensor | None) -> int:
    """CUDA device index of the tensors of one call (``None`` entries skipped), for the
    ``device`` argument of the CUDA entry points, which make it current for the call.

    Raises ValueError naming the tensors when they are not all on one device, and
    RuntimeError when the loaded extension predates the device-guarded entry points.
    """
    where = {name: t.device for name, t in tensors.items() if t is not None}
    if len(set(where.values())) > 1:
        raise ValueError("vo_app: the tensors of one call must be on the same device, got "
                         + ", ".join(f"{name} on {dev}" for name, dev in where.items()))
    if getattr(_ext._core, "cuda_api_version", 1) < 2:
        raise RuntimeError("vo_app._core was built before the device-guarded CUDA entry points; rebuild it "
                           "(pip install -e .)")
    dev = next(iter(where.values()))
    return dev.index if dev.index is not None else torch.cuda.current_device()


# The CPU paths below make as few torch and NumPy calls as they can: between two kernel
# calls each such call costs tens of microseconds here (its code has left the caches;
# `benchmarks/core_kernels.py` measures it).

def _np(x: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """NumPy view of a CPU tensor that already has ``dtype`` (the bindings take any strides
    or copy to contiguous themselves), else a converted CPU copy."""
    if x.device.type == "cpu" and x.dtype == dtype and not x.requires_grad:
        return x.numpy()
    return x.detach().to(device="cpu", dtype=dtype).numpy()


def _seed_arg(seed, B: int):
    """Seed(s) as the C++ kernels take them: an int for all items, or ``[B]`` uint64."""
    if isinstance(seed, (int, np.integer)):
        return int(seed) & _ext._U64  # as int64 -> uint64
    s = np.asarray(seed.detach().cpu().numpy() if isinstance(seed, torch.Tensor) else seed)
    if s.size == 1:
        return int(s.reshape(-1)[0]) & _ext._U64
    if s.shape != (B,) or s.dtype.kind not in "iu":
        raise ValueError(f"seed must be an int or hold B={B} integers, got shape {s.shape} ({s.dtype})")
    return s  # the binding casts int64 to uint64 as above


def _on(dev: torch.device, arrays) -> tuple:
    """Tensors over the kernel's outputs, moved to ``dev`` only when that is not the CPU."""
    out = tuple(torch.from_numpy(a) for a in arrays)
    return out if dev.type == "cpu" else tuple(x.to(dev) for x in out)


def _seeds(seed, B: int, device) -> torch.Tensor:
    """``[B]`` seeds as an int64 tensor on ``device`` (the CUDA kernels read them as uint64)."""
    s = _seed_arg(seed, B)
    s = np.full(B, s, np.uint64) if isinstance(s, int) else s.astype(np.uint64)
    return torch.from_numpy(s.view(np.int64)).to(device)


@dataclass
class Scores:
    """TrianFlow's match masks of frame 1, each ``[B,H,W]`` float32: ``score = M_o * M_s`` (the
    sampling score), ``occ = M_o`` (occlusion, from the backward flow), ``fb = D_fb`` (forward-backward
    distance, pixels); ``M_s = 1 / (0.1 + D_fb)``, 0 where the forward target leaves the image."""

    score: torch.Tensor
    occ: torch.Tensor
    fb: torch.Tensor


def match_score(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, *, backend: str = "auto") -> Scores:
    """Step 3: the masks and sampling score of ``flow_fwd, flow_bwd [B,2,H,W]`` (pixels, frame 1 -> 2 and 2 -> 1).

    CPU tensors: the C++ kernel (``csrc/cpu/masks.cpp``; a ``[B,H,W,2]``-contiguous flow, e.g. a
    permuted view of a NumPy array, is passed without a copy); CUDA tensors: the torch version
    (``flow_scores_t.py``); ``backend="reference"`` (or no extension): the NumPy oracle
    (``_reference/flow_masks.py``), pair by pair.  Outputs are on the input device.
    """
    if flow_fwd.ndim != 4 or flow_fwd.shape[1] != 2 or flow_bwd.shape != flow_fwd.shape:
        raise ValueError(f"expected flows [B,2,H,W], got {tuple(flow_fwd.shape)} and {tuple(flow_bwd.shape)}")
    dev = flow_fwd.device
    ff = flow_fwd.detach().permute(0, 2, 3, 1)
    fb = flow_bwd.detach().permute(0, 2, 3, 1)
    if not _ext.use_cpp(backend) or not _ext.has("match_score_cpu"):
        from ._reference.flow_masks import match_score as score_ref

        f, b = ff.to("cpu", torch.float32).numpy(), fb.to("cpu", torch.float32).numpy()
        out = [score_ref(x, y) for x, y in zip(f, b)]
        B, H, W = f.shape[:3]
        cols = [np.stack([o[k] for o in out]) if out else np.zeros((0, H, W), np.float32) for k in ("score", "occ", "fb")]
        return Scores(*_on(dev, cols))
    if dev.type == "cuda":
        from .flow_scores_t import flow_scores_t

        sc = flow_scores_t(flow_fwd.detach(), flow_bwd.detach())
        return Scores(sc["score"], sc["occ"][:, 0], sc["fb"])
    f = np.ascontiguousarray(_np(ff, torch.float32))
    b = np.ascontiguousarray(_np(fb, torch.float32))
    return Scores(*_on(dev, _ext._core.match_score_cpu(f, b, threads=2)))


@dataclass
class Matches:
    """Sampled matches: ``p1, p2 [B,n,2]`` (pixels, float64), ``count [B]`` candidates per pair,
    ``valid [B]`` (at least ``n`` candidates, so the sample is complete), ``mask [B,n]`` (drawn)."""

    p1: torch.Tensor
    p2: torch.Tensor
    count: torch.Tensor
    valid: torch.Tensor
    mask: torch.Tensor


def sample_matches(flow: torch.Tensor, score: torch.Tensor, n: int = 6000, ratio: float = 0.2, seed=0, *,
                   backend: str = "auto") -> Matches:
    """Top-``ratio`` then ``n`` at random, per pair.

    Args:
        flow: ``[B,2,H,W]`` forward flow (dx, dy) in pixels.
        score: ``[B,H,W]`` sampling score (> 0 usable; NaN never drawn).
        seed: int for all pairs or ``[B]``; the same seed gives the same sample on the same device.
        backend: ``auto`` (the compiled kernels when built), ``cpp`` or ``reference`` (the NumPy
            code of ``_reference/sampling.py``, pair by pair, on the CPU; outputs on the input device).
    """
    if flow.ndim != 4 or flow.shape[1] != 2 or score.shape != (flow.shape[0],) + flow.shape[2:]:
        raise ValueError(f"expected flow [B,2,H,W] and score [B,H,W], got {tuple(flow.shape)} and {tuple(score.shape)}")
    B, _, H, W = flow.shape
    dev = score.device
    if not _ext.use_cpp(backend):
        return Matches(*_on(dev, _sample_reference(flow, score, n, ratio, seed)))
    if not (dev.type == "cuda" and _cuda_ok()):
        # No torch op on the outputs: on this many elements one would wake torch's OpenMP
        # pool, whose spinning threads then compete with the C++ kernels for the cores.
        _, count, p1, p2, mask = _ext._core.sample_matches_cpu(_np(score, torch.float32), _np(flow, torch.float32), n,
                                                               float(ratio), _seed_arg(seed, B))
        return Matches(*_on(dev, (p1, p2, count, count >= n, mask)))
    index = _cuda_device(score=score, flow=flow)
    if n <= 0:  # as the CPU binding (ValueError), before torch.empty would fail on n < 0
        raise ValueError("n must be positive")
    score_c = score.detach().to(torch.float32).contiguous()  # no copy when already float32 and contiguous
    idx = torch.empty((B, n), dtype=torch.int64, device=dev)
    count = torch.empty((B,), dtype=torch.int64, device=dev)
    seeds = _seeds(seed, B, dev)
    _ext._core.sample_topk_random_cuda(score_c.data_ptr(), B, H * W, n, float(ratio), seeds.data_ptr(),
                                       idx.data_ptr(), count.data_ptr(), torch.cuda.current_stream(dev).cuda_stream,
                                       device=index)
    mask = idx >= 0
    nan = torch.full((B, n, 2), float("nan"), dtype=torch.float64, device=dev)
    if H * W == 0:  # no pixel: nothing drawn (idx is all -1) and no flow to gather
        return Matches(nan, nan.clone(), count, count >= n, mask)
    safe = idx.clamp(min=0)
    ys, xs = safe // W, safe % W
    p1 = torch.stack([xs, ys], -1).to(torch.float64)
    p2 = p1 + flow.detach()[torch.arange(B, device=dev)[:, None], :, ys, xs].to(torch.float64)
    p1 = torch.where(mask[..., None], p1, nan)
    p2 = torch.where(mask[..., None], p2, nan)
    return Matches(p1, p2, count, count >= n, mask)


@dataclass
class RansacResult:
    """``F [B,3,3]`` (unit norm), ``inliers [B,N]`` bool, ``n_inliers [B]``, ``iters [B]``,
    ``status [B]`` (0 ok, 1 too few points, 2 degenerate, 3 planar: a homography explains the inliers)."""

    F: torch.Tensor
    inliers: torch.Tensor
    n_inliers: torch.Tensor
    iters: torch.Tensor
    status: torch.Tensor

    @property
    def ok(self) -> torch.Tensor:
        return self.status == 0


def ransac_fundamental(p1: torch.Tensor, p2: torch.Tensor, weights: torch.Tensor | None = None, *,
                       threshold: float = 0.1, confidence: float = 0.99, max_iters: int = 1000, seed=0,
                       check_planar: bool = True, backend: str = "auto") -> RansacResult:
    """Batched normalized 8-point RANSAC (Sampson distance in pixels, adaptive iterations, refit).

    Args:
        p1, p2: ``[B,N,2]`` matches (non-finite rows are ignored); weights: optional ``[B,N]`` >= 0.
        check_planar: flag pairs whose inliers one homography explains (status 3, :func:`flag_planar`).
        backend: ``auto``, ``cpp`` or ``reference`` (``_reference/fundamental.py``, pair by pair, without
            weights; ``iters`` is then 0 and ``status`` 0 or 1).
    """
    if p1.ndim != 3 or p1.shape[-1] != 2 or p2.shape != p1.shape:
        raise ValueError(f"expected p1, p2 [B,N,2], got {tuple(p1.shape)} and {tuple(p2.shape)}")
    if weights is not None and weights.shape != p1.shape[:2]:
        raise ValueError(f"expected weights [B,N], got {tuple(weights.shape)}")
    B, N, _ = p1.shape
    dev = p1.device
    if not _ext.use_cpp(backend):
        res = RansacResult(*_on(dev, _ransac_reference(p1, p2, threshold, confidence, max_iters, seed)))
        if check_planar:
            flag_planar(res, p1.detach().to(torch.float64), p2.detach().to(torch.float64), threshold,
                        backend=backend)
        return res
    if dev.type == "cuda" and _cuda_ok():
        index = _cuda_device(p1=p1, p2=p2, weights=weights)
        a = p1.detach().to(torch.float64).contiguous()
        b = p2.detach().to(torch.float64).contiguous()
        w = None if weights is None else weights.detach().to(torch.float64).contiguous()
        F = torch.empty((B, 3, 3), dtype=torch.float64, device=dev)
        inl = torch.empty((B, N), dtype=torch.uint8, device=dev)
        cnt = torch.empty((B,), dtype=torch.int64, device=dev)
        its = torch.empty((B,), dtype=torch.int64, device=dev)
        st = torch.empty((B,), dtype=torch.int32, device=dev)
        seeds = _seeds(seed, B, dev)
        _ext._core.ransac_fundamental_cuda(a.data_ptr(), b.data_ptr(), 0 if w is None else w.data_ptr(), B, N,
                                           float(threshold), float(confidence), int(max_iters), seeds.data_ptr(),
                                           F.data_ptr(), inl.data_ptr(), cnt.data_ptr(), its.data_ptr(), st.data_ptr(),
                                           torch.cuda.current_stream(dev).cuda_stream, device=index)
        res = RansacResult(F, inl.bool(), cnt, its, st.to(torch.int64))
    else:
        out = _ext._core.ransac_fundamental_cpu(_np(p1, torch.float64), _np(p2, torch.float64),
                                                None if weights is None else _np(weights, torch.float64),
                                                float(threshold), float(confidence), int(max_iters), _seed_arg(seed, B))
        res = RansacResult(*_on(dev, out))  # status comes as int64
    if check_planar:
        flag_planar(res, p1.detach().to(torch.float64), p2.detach().to(torch.float64), threshold, backend=backend)
    return res


def flag_planar(res: RansacResult, p1: torch.Tensor, p2: torch.Tensor, threshold: float, share: float = 0.95, *,
                backend: str = "auto") -> None:
    """Mark pairs whose F-inliers a single homography explains (status 3): F is then not unique.

    The homography is a normalized DLT least-squares fit on the inliers; it "explains" a match
    when its transfer error is below ``max(2 * threshold, 0.5)`` pixels.  The C++ kernel
    (``csrc/cpu/planar.cpp``) fits each pair; ``backend="reference"`` (or no extension) fits all pairs
    at once in NumPy (``_reference/planar.py``, with its pair-by-pair oracle).
    """
    todo = np.flatnonzero(res.status.detach().cpu().numpy() == 0)
    if todo.size == 0:
        return
    # NumPy indexing, not torch: no torch CPU op large enough to wake its OpenMP pool.
    x1 = p1.detach().to("cpu", torch.float64).numpy()[todo]
    x2 = p2.detach().to("cpu", torch.float64).numpy()[todo]
    inl = res.inliers.detach().cpu().numpy()[todo].astype(bool)
    tol = max(2 * threshold, 0.5)
    if _ext.use_cpp(backend) and _ext.has("planar_pairs_cpu"):  # csrc/cpu/planar.cpp, pair by pair in C++
        flags = _ext._core.planar_pairs_cpu(x1, x2, inl, tol, share)
    else:
        from ._reference.planar import planar_pairs

        flags = planar_pairs(x1, x2, inl, tol, share)
    planar = todo[flags]
    if planar.size:
        res.status[torch.from_numpy(planar).to(res.status.device)] = 3


def epipolar_score_map(flow: torch.Tensor, F: torch.Tensor, threshold: float = 0.5, *,
                       backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """``D_epi [B,H,W]`` (pixels) of every flow match and ``M_r = (D_epi < threshold) / (1 + D_epi)``.

    Args: flow ``[B,2,H,W]``, F ``[B,3,3]``; backend ``auto``, ``cpp`` or ``reference`` (``_reference/inlier_map.py``).
    """
    if flow.ndim != 4 or flow.shape[1] != 2 or F.shape != (flow.shape[0], 3, 3):
        raise ValueError(f"expected flow [B,2,H,W] and F [B,3,3], got {tuple(flow.shape)} and {tuple(F.shape)}")
    B, _, H, W = flow.shape
    fl = flow.detach().permute(0, 2, 3, 1).to(torch.float32).contiguous()
    Fd = F.detach().to(torch.float64).contiguous()
    if not _ext.use_cpp(backend):
        from ._reference.inlier_map import epipolar_distance_map, inlier_score_map

        fn, Fn = fl.cpu().numpy(), Fd.cpu().numpy()
        d = np.stack([epipolar_distance_map(Fn[b], fn[b]) for b in range(B)]) if B else np.zeros((0, H, W), np.float32)
        return _on(flow.device, (d, inlier_score_map(d, threshold)))
    if flow.device.type == "cuda" and _cuda_ok():
        index = _cuda_device(flow=flow, F=F)
        d = torch.empty((B, H, W), dtype=torch.float32, device=flow.device)
        s = torch.empty_like(d)
        _ext._core.epipolar_score_map_cuda(fl.data_ptr(), Fd.data_ptr(), B, H, W, float(threshold), d.data_ptr(),
                                           s.data_ptr(), torch.cuda.current_stream(flow.device).cuda_stream,
                                           device=index)
        return d, s
    d, s = _ext._core.epipolar_score_map_cpu(fl.cpu().numpy(), Fd.cpu().numpy(), float(threshold))
    return torch.from_numpy(d).to(flow.device), torch.from_numpy(s).to(flow.device)


def pose_from_fundamental(F: torch.Tensor, K: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                          mask: torch.Tensor | None = None, *, backend: str = "auto"):
    """Best ``[R|t]`` per pair from ``F, K [B,3,3]``, matches ``p1, p2 [B,N,2]``, voters ``mask [B,N]``.

    CPU tensors use the C++ kernel; CUDA tensors the vectorized torch version (same rule);
    ``backend="reference"`` (or no extension): the NumPy code of ``_reference/essential.py``, pair by pair.
    Returns ``R [B,3,3]``, ``t [B,3]`` (unit), ``n_front [B]``, ``n_front_all [B,4]``.
    """
    if not _ext.use_cpp(backend):
        return _on(F.device, _pose_reference(F, K, p1, p2, mask))
    if F.device.type == "cuda" or not _ext.has("pose_from_fundamental_cpu"):
        from .pose_torch import pose_from_fundamental_t

        return pose_from_fundamental_t(F, K, p1, p2, mask)
    f64 = torch.float64
    out = _ext._core.pose_from_fundamental_cpu(_np(F, f64), _np(K, f64), _np(p1, f64), _np(p2, f64),
                                               None if mask is None else _u8(mask))
    return tuple(torch.from_numpy(x) for x in out)


def _u8(mask: torch.Tensor) -> np.ndarray:
    """A CPU mask as uint8 for the bindings: a view of a bool mask, else converted in NumPy
    (no torch OpenMP wake-up)."""
    m = mask.detach().cpu().numpy()
    return m.view(np.uint8) if m.dtype == np.bool_ else m.astype(np.uint8)


def refine_pose(p1: torch.Tensor, p2: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
                mask: torch.Tensor | None = None, *, huber: float = 0.5, iters: int = 10, backend: str = "auto"):
    """Robust Gauss-Newton on signed Sampson residuals over (R, direction of t), batched on the CPU kernel.

    Args: p1, p2 ``[B,N,2]``; K, R ``[B,3,3]``; t ``[B,3]``; mask ``[B,N]`` matches to use (non-finite
    rows are skipped); backend ``auto``, ``cpp`` or ``reference`` (``_reference/refine.py``, pair by pair).
    Returns refined ``R [B,3,3]``, ``t [B,3]`` (unit) and the final rms residual ``[B]`` (pixels),
    on the input device.
    """
    f64 = torch.float64
    if not _ext.use_cpp(backend):
        return _on(R.device, _refine_reference(p1, p2, K, R, t, mask, huber, iters))
    out = _ext._core.refine_pose_cpu(_np(p1, f64), _np(p2, f64), None if mask is None else _u8(mask),
                                     _np(K, f64), _np(R, f64), _np(t, f64), float(huber), int(iters))
    return _on(R.device, out)


# ---------------------------------------------------------------------------------------------
# backend="reference" (or no compiled extension): the NumPy reference code, pair by pair, so
# that each pair's result does not depend on the others in the batch.  Inputs and outputs are
# CPU NumPy arrays; the callers above move them to the input device.

def _item_seeds(seed, B: int) -> list[int]:
    s = _seed_arg(seed, B)
    return [s] * B if isinstance(s, int) else [int(v) & _ext._U64 for v in np.asarray(s).tolist()]


def _sample_reference(flow, score, n: int, ratio: float, seed):
    from ._reference.sampling import sample_matches_ref

    if n <= 0:
        raise ValueError("n must be positive")
    fl = flow.detach().permute(0, 2, 3, 1).to("cpu", torch.float32).numpy()
    sc = score.detach().to("cpu", torch.float32).numpy()
    B = fl.shape[0]
    p1 = np.full((B, n, 2), np.nan)
    p2 = np.full((B, n, 2), np.nan)
    count = np.zeros(B, np.int64)
    mask = np.zeros((B, n), bool)
    for b, s in enumerate(_item_seeds(seed, B)):
        a, c, k = sample_matches_ref(fl[b], sc[b], n, ratio, np.random.default_rng(s))
        p1[b, :len(a)], p2[b, :len(a)], count[b], mask[b, :len(a)] = a, c, k, True
    return p1, p2, count, count >= n, mask


def _ransac_reference(p1, p2, threshold, confidence, max_iters, seed):
    from ._reference.fundamental import ransac_fundamental as ransac_ref

    a = p1.detach().to("cpu", torch.float64).numpy()
    c = p2.detach().to("cpu", torch.float64).numpy()
    B, N, _ = a.shape
    F = np.zeros((B, 3, 3))
    inl = np.zeros((B, N), bool)
    status = np.ones(B, np.int64)
    for b, s in enumerate(_item_seeds(seed, B)):
        Fb, ib, okb = ransac_ref(a[b:b + 1], c[b:b + 1], threshold=threshold, confidence=confidence,
                                 max_iters=max_iters, rng=np.random.default_rng(s))
        F[b], inl[b], status[b] = Fb[0], ib[0], 0 if okb[0] else 1
    return F, inl, inl.sum(1).astype(np.int64), np.zeros(B, np.int64), status


def _pose_reference(F, K, p1, p2, mask):
    from ._reference.essential import pose_from_fundamental as pose_ref

    f = lambda x: x.detach().to("cpu", torch.float64).numpy()  # noqa: E731
    Fn, Kn, a, c = f(F), f(K), f(p1), f(p2)
    m = None if mask is None else mask.detach().cpu().numpy().astype(bool)
    B = Fn.shape[0]
    out = [pose_ref(Fn[b:b + 1], Kn[b:b + 1], a[b:b + 1], c[b:b + 1], None if m is None else m[b:b + 1])
           for b in range(B)]
    if not out:
        return np.zeros((0, 3, 3)), np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros((0, 4), np.int64)
    return (np.concatenate([o.R for o in out]), np.concatenate([o.t for o in out]),
            np.concatenate([o.n_front for o in out]).astype(np.int64),
            np.concatenate([o.n_front_all for o in out]).astype(np.int64))


def _refine_reference(p1, p2, K, R, t, mask, huber, iters):
    from ._reference.refine import refine_pose as refine_ref

    f = lambda x: x.detach().to("cpu", torch.float64).numpy()  # noqa: E731
    a, c, Kn = f(p1), f(p2), f(K)
    Ro, to = f(R).copy(), f(t).copy()
    B = a.shape[0]
    rms = np.full(B, np.nan)
    use = np.isfinite(a).all(-1) & np.isfinite(c).all(-1)
    if mask is not None:
        use &= mask.detach().cpu().numpy().astype(bool)
    for b in range(B):
        if use[b].sum() >= 8:
            Ro[b], to[b], rms[b] = refine_ref(a[b][use[b]], c[b][use[b]], Kn[b], Ro[b], to[b], huber=huber, iters=iters)
    return Ro, to, rms
