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
class Matches:
    """Sampled matches: ``p1, p2 [B,n,2]`` (pixels, float64), ``count [B]`` candidates per pair,
    ``valid [B]`` (at least ``n`` candidates, so the sample is complete), ``mask [B,n]`` (drawn)."""

    p1: torch.Tensor
    p2: torch.Tensor
    count: torch.Tensor
    valid: torch.Tensor
    mask: torch.Tensor


def sample_matches(flow: torch.Tensor, score: torch.Tensor, n: int = 6000, ratio: float = 0.2, seed=0) -> Matches:
    """Top-``ratio`` then ``n`` at random, per pair.

    Args:
        flow: ``[B,2,H,W]`` forward flow (dx, dy) in pixels.
        score: ``[B,H,W]`` sampling score (> 0 usable; NaN never drawn).
        seed: int for all pairs or ``[B]``; the same seed gives the same sample on the same device.
    """
    if flow.ndim != 4 or flow.shape[1] != 2 or score.shape != (flow.shape[0],) + flow.shape[2:]:
        raise ValueError(f"expected flow [B,2,H,W] and score [B,H,W], got {tuple(flow.shape)} and {tuple(score.shape)}")
    B, _, H, W = flow.shape
    dev = score.device
    if not (dev.type == "cuda" and _cuda_ok()):
        # No torch op on the outputs: on this many elements one would wake torch's OpenMP
        # pool, whose spinning threads then compete with the C++ kernels for the cores.
        _, count, p1, p2, mask = _ext._core.sample_matches_cpu(_np(score, torch.float32), _np(flow, torch.float32), n,
                                                               float(ratio), _seed_arg(seed, B))
        return Matches(*_on(dev, (p1, p2, count, count >= n, mask)))
    score_c = score.detach().to(torch.float32).contiguous()  # no copy when already float32 and contiguous
    idx = torch.empty((B, n), dtype=torch.int64, device=dev)
    count = torch.empty((B,), dtype=torch.int64, device=dev)
    seeds = _seeds(seed, B, dev)
    _ext._core.sample_topk_random_cuda(score_c.data_ptr(), B, H * W, n, float(ratio), seeds.data_ptr(),
                                       idx.data_ptr(), count.data_ptr(), torch.cuda.current_stream(dev).cuda_stream)
    mask = idx >= 0
    safe = idx.clamp(min=0)
    ys, xs = safe // W, safe % W
    p1 = torch.stack([xs, ys], -1).to(torch.float64)
    p2 = p1 + flow.detach()[torch.arange(B, device=dev)[:, None], :, ys, xs].to(torch.float64)
    nan = torch.full_like(p1, float("nan"))
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
                       check_planar: bool = True) -> RansacResult:
    """Batched normalized 8-point RANSAC (Sampson distance in pixels, adaptive iterations, refit).

    Args:
        p1, p2: ``[B,N,2]`` matches (non-finite rows are ignored); weights: optional ``[B,N]`` >= 0.
    """
    if p1.ndim != 3 or p1.shape[-1] != 2 or p2.shape != p1.shape:
        raise ValueError(f"expected p1, p2 [B,N,2], got {tuple(p1.shape)} and {tuple(p2.shape)}")
    if weights is not None and weights.shape != p1.shape[:2]:
        raise ValueError(f"expected weights [B,N], got {tuple(weights.shape)}")
    B, N, _ = p1.shape
    dev = p1.device
    if dev.type == "cuda" and _cuda_ok():
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
                                           torch.cuda.current_stream(dev).cuda_stream)
        res = RansacResult(F, inl.bool(), cnt, its, st.to(torch.int64))
    else:
        out = _ext._core.ransac_fundamental_cpu(_np(p1, torch.float64), _np(p2, torch.float64),
                                                None if weights is None else _np(weights, torch.float64),
                                                float(threshold), float(confidence), int(max_iters), _seed_arg(seed, B))
        res = RansacResult(*_on(dev, out))  # status comes as int64
    if check_planar:
        flag_planar(res, p1.detach().to(torch.float64), p2.detach().to(torch.float64), threshold)
    return res


def flag_planar(res: RansacResult, p1: torch.Tensor, p2: torch.Tensor, threshold: float, share: float = 0.95) -> None:
    """Mark pairs whose F-inliers a single homography explains (status 3): F is then not unique.

    The homography is a normalized DLT least-squares fit on the inliers; it "explains" a match
    when its transfer error is below ``max(2 * threshold, 0.5)`` pixels.
    """
    for b in torch.nonzero(res.status == 0).flatten().tolist():
        m = res.inliers[b]
        x1, x2 = p1[b][m].cpu().numpy(), p2[b][m].cpu().numpy()
        H = _homography_dlt(x1, x2)
        if H is None:
            continue
        q = np.c_[x1, np.ones(len(x1))] @ H.T
        err = np.linalg.norm(q[:, :2] / q[:, 2:] - x2, axis=1)
        if np.mean(err < max(2 * threshold, 0.5)) >= share:
            res.status[b] = 3


def _homography_dlt(x1: np.ndarray, x2: np.ndarray) -> np.ndarray | None:
    if len(x1) < 4:
        return None

    def norm(x):
        c = x.mean(0)
        s = np.sqrt(2) / max(np.linalg.norm(x - c, axis=1).mean(), 1e-12)
        return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1.0]])

    T1, T2 = norm(x1), norm(x2)
    a = np.c_[x1, np.ones(len(x1))] @ T1.T
    b = np.c_[x2, np.ones(len(x2))] @ T2.T
    z = np.zeros((len(a), 3))
    A = np.concatenate([np.concatenate([z, -a, b[:, 1:2] * a], 1), np.concatenate([a, z, -b[:, 0:1] * a], 1)])
    _, _, Vt = np.linalg.svd(A, full_matrices=False)
    H = np.linalg.inv(T2) @ Vt[-1].reshape(3, 3) @ T1
    return H if np.isfinite(H).all() else None


def epipolar_score_map(flow: torch.Tensor, F: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """``D_epi [B,H,W]`` (pixels) of every flow match and ``M_r = (D_epi < threshold) / (1 + D_epi)``.

    Args: flow ``[B,2,H,W]``, F ``[B,3,3]``.
    """
    if flow.ndim != 4 or flow.shape[1] != 2 or F.shape != (flow.shape[0], 3, 3):
        raise ValueError(f"expected flow [B,2,H,W] and F [B,3,3], got {tuple(flow.shape)} and {tuple(F.shape)}")
    B, _, H, W = flow.shape
    fl = flow.detach().permute(0, 2, 3, 1).to(torch.float32).contiguous()
    Fd = F.detach().to(torch.float64).contiguous()
    if flow.device.type == "cuda" and _cuda_ok():
        d = torch.empty((B, H, W), dtype=torch.float32, device=flow.device)
        s = torch.empty_like(d)
        _ext._core.epipolar_score_map_cuda(fl.data_ptr(), Fd.data_ptr(), B, H, W, float(threshold), d.data_ptr(),
                                           s.data_ptr(), torch.cuda.current_stream(flow.device).cuda_stream)
        return d, s
    d, s = _ext._core.epipolar_score_map_cpu(fl.cpu().numpy(), Fd.cpu().numpy(), float(threshold))
    return torch.from_numpy(d).to(flow.device), torch.from_numpy(s).to(flow.device)


def pose_from_fundamental(F: torch.Tensor, K: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                          mask: torch.Tensor | None = None):
    """Best ``[R|t]`` per pair from ``F, K [B,3,3]``, matches ``p1, p2 [B,N,2]``, voters ``mask [B,N]``.

    CPU tensors use the C++ kernel; CUDA tensors the vectorized torch version (same rule).
    Returns ``R [B,3,3]``, ``t [B,3]`` (unit), ``n_front [B]``, ``n_front_all [B,4]``.
    """
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
                mask: torch.Tensor | None = None, *, huber: float = 0.5, iters: int = 10):
    """Robust Gauss-Newton on signed Sampson residuals over (R, direction of t), batched on the CPU kernel.

    Args: p1, p2 ``[B,N,2]``; K, R ``[B,3,3]``; t ``[B,3]``; mask ``[B,N]`` matches to use.
    Returns refined ``R [B,3,3]``, ``t [B,3]`` (unit) and the final rms residual ``[B]`` (pixels),
    on the input device.
    """
    f64 = torch.float64
    out = _ext._core.refine_pose_cpu(_np(p1, f64), _np(p2, f64), None if mask is None else _u8(mask),
                                     _np(K, f64), _np(R, f64), _np(t, f64), float(huber), int(iters))
    return _on(R.device, out)
