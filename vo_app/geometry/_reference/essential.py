"""Essential matrix: from F, decomposition, cheirality (reference NumPy, batched)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .triangulation import triangulate_midpoint

_W = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def essential_from_fundamental(F: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``E = K^T F K`` projected to the essential manifold (two equal singular values): ``[B,3,3]``."""
    E = np.swapaxes(K, -1, -2) @ F @ K
    U, S, Vt = np.linalg.svd(E)
    s = 0.5 * (S[..., 0] + S[..., 1])
    D = np.zeros_like(S)
    D[..., 0] = s
    D[..., 1] = s
    E = U @ (D[..., :, None] * Vt)
    return E / np.maximum(np.linalg.norm(E, axis=(-2, -1), keepdims=True), 1e-30)


def decompose_essential(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The four ``[R|t]`` candidates of ``E [B,3,3]``: ``R [B,4,3,3]``, unit ``t [B,4,3]``."""
    U, _, Vt = np.linalg.svd(E)
    U = U * np.sign(np.linalg.det(U))[..., None, None]
    Vt = Vt * np.sign(np.linalg.det(Vt))[..., None, None]
    Ra = U @ _W @ Vt
    Rb = U @ _W.T @ Vt
    u3 = U[..., :, 2]
    R = np.stack([Ra, Ra, Rb, Rb], axis=-3)
    t = np.stack([u3, -u3, u3, -u3], axis=-2)
    return R, t


@dataclass
class PoseFromF:
    """Best relative pose per pair: ``X_2 = R X_1 + t`` with ``|t| = 1``.

    Attributes:
        R: ``[B,3,3]``; t: ``[B,3]``; n_front: ``[B]`` points in front of both
        cameras for the chosen candidate; n_front_all: ``[B,4]`` the same for all four.
    """

    R: np.ndarray
    t: np.ndarray
    n_front: np.ndarray
    n_front_all: np.ndarray


def pose_from_fundamental(F: np.ndarray, K: np.ndarray, p1: np.ndarray, p2: np.ndarray,
                          mask: np.ndarray | None = None) -> PoseFromF:
    """E = K^T F K, its four decompositions, and the mid-point cheirality vote.

    Args:
        F: ``[B,3,3]``; K: ``[B,3,3]``; p1, p2: ``[B,N,2]``; mask: optional ``[B,N]`` matches to count.
    """
    E = essential_from_fundamental(F, K)
    Rc, tc = decompose_essential(E)
    B = F.shape[0]
    counts = np.zeros((B, 4), np.int64)
    for j in range(4):
        tri = triangulate_midpoint(p1, p2, K, Rc[:, j], tc[:, j])
        v = tri.valid if mask is None else tri.valid & mask
        counts[:, j] = v.sum(-1)
    best = counts.argmax(-1)
    ar = np.arange(B)
    return PoseFromF(Rc[ar, best], tc[ar, best], counts[ar, best], counts)
