"""Thin loader for the compiled extension ``vo_app._core``; dispatch helpers."""
from __future__ import annotations

import numpy as np

try:  # the extension is optional at import time: the reference code always works
    from .. import _core  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - exercised when the build is missing
    _core = None


_U64 = 0xFFFFFFFFFFFFFFFF


def available() -> bool:
    return _core is not None


def has(name: str) -> bool:
    return _core is not None and hasattr(_core, name)


def use_cpp(backend: str) -> bool:
    if backend == "reference":
        return False
    if backend == "cpp" and _core is None:
        raise RuntimeError("vo_app._core is not built; reinstall with `pip install -e .`")
    return _core is not None


def sample_matches(flow, score, n, ratio, seed):
    """One pair: flow ``[H,W,2]``, score ``[H,W]``; the C++ sampler and gather in one call."""
    fl = np.asarray(flow, np.float32).transpose(2, 0, 1)[None]  # a [1,2,H,W] view: the kernel reads any strides
    _, count, p1, p2, _ = _core.sample_matches_cpu(np.ascontiguousarray(score, np.float32)[None], fl, int(n),
                                                   float(ratio), int(seed) & _U64)
    m = min(int(count[0]), n)
    return p1[0, :m], p2[0, :m], int(count[0])


def ransac_fundamental(p1, p2, threshold, confidence, max_iters, seed, weights=None):
    """C++ RANSAC; returns ``F [B,3,3], inliers [B,N], ok [B], info`` (info: n_inliers, iters, status)."""
    F, inl, count, iters, status = _core.ransac_fundamental_cpu(
        np.ascontiguousarray(p1, np.float64), np.ascontiguousarray(p2, np.float64), weights,
        float(threshold), float(confidence), int(max_iters), int(seed) & _U64)
    return F, inl, status == 0, {"n_inliers": count, "iters": iters, "status": status}
