"""Mid-point triangulation (TrianFlow supplementary, section B): the public, batched entry point.

Camera 1 is the reference (identity extrinsic); camera 2 has extrinsic ``[R | t]``, i.e.
``X_2 = R X_1 + t``.  CPU tensors that need no gradient go to the C++ kernel
(``csrc/cpu/triangulate.cpp``), pair by pair; CUDA tensors, or tensors that need a gradient
(the depth training), to the torch version (:func:`vo_app.geometry.pose_torch.triangulate_midpoint_t`);
``backend="reference"`` to the NumPy oracle (``_reference/triangulation.py``).  All three give the
same values up to floating-point rounding (``tests/test_geometry.py``).
"""
from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch

from . import _ext
from .triangulated import Triangulated


def triangulate_midpoint(p1: torch.Tensor, p2: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
                         cos_threshold: float = 1e-3, *, backend: str = "auto") -> Triangulated:
    """Triangulate matches ``p1, p2 [B,N,2]`` (pixels) with ``K, R [B,3,3]`` and ``t [B,3]``.

    Returns a :class:`Triangulated` of ``[B,N]`` (``points [B,N,3]``) tensors on the input device,
    float64 (``valid`` bool).  Non-finite matches come out not valid.
    """
    if p1.ndim != 3 or p1.shape[-1] != 2 or p2.shape != p1.shape:
        raise ValueError(f"expected p1, p2 [B,N,2], got {tuple(p1.shape)} and {tuple(p2.shape)}")
    B = p1.shape[0]
    if K.shape != (B, 3, 3) or R.shape != (B, 3, 3) or t.shape != (B, 3):
        raise ValueError(f"expected K, R [B,3,3] and t [B,3] for B={B}, got {tuple(K.shape)}, {tuple(R.shape)}, "
                         f"{tuple(t.shape)}")
    dev = p1.device
    grad = any(x.requires_grad for x in (p1, p2, K, R, t))
    if not _ext.use_cpp(backend):
        from ._reference.triangulation import triangulate_midpoint as tri_ref

        f = lambda x: x.detach().to("cpu", torch.float64).numpy()  # noqa: E731
        r = tri_ref(f(p1), f(p2), f(K), f(R), f(t), cos_threshold)
        return Triangulated(*(torch.from_numpy(np.asarray(getattr(r, n.name))).to(dev) for n in fields(r)))
    if dev.type == "cuda" or grad or not _ext.has("triangulate_midpoint_cpu"):
        from .pose_torch import triangulate_midpoint_t

        return triangulate_midpoint_t(p1, p2, K, R, t, cos_threshold)
    # The run's path: NumPy views in and out, no torch CPU op (see batched.py).
    f64 = lambda x: np.ascontiguousarray(x.detach().numpy(), np.float64)  # noqa: E731
    a, c, Kn, Rn, tn = f64(p1), f64(p2), f64(K), f64(R), f64(t)
    outs = [_ext._core.triangulate_midpoint_cpu(a[b], c[b], np.linalg.inv(Kn[b]), Rn[b], tn[b], float(cos_threshold))
            for b in range(B)]
    if B == 1:
        cols = [x[None] for x in outs[0]]
    elif B == 0:
        N = p1.shape[1]
        cols = [np.zeros((0, N, 3)), np.zeros((0, N)), np.zeros((0, N)), np.zeros((0, N), bool), np.zeros((0, N)),
                np.zeros((0, N))]
    else:
        cols = [np.stack(x) for x in zip(*outs)]
    return Triangulated(*(torch.from_numpy(x) for x in cols))
