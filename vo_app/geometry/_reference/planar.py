"""Reference (test oracle) of the planar check (``csrc/cpu/planar.cpp``): does one homography
explain a pair's F-inliers?  :func:`planar_pairs` for all pairs at once, :func:`flag_planar_loop`
pair by pair (an SVD each)."""
from __future__ import annotations

import numpy as np
import torch


def planar_pairs(x1: np.ndarray, x2: np.ndarray, inliers: np.ndarray, tol: float, share: float = 0.95) -> np.ndarray:
    """Which pairs one homography explains: ``x1, x2 [B,N,2]``, ``inliers [B,N]`` -> ``[B]`` bool.

    A normalized DLT (Hartley: centroid at 0, mean distance sqrt 2) on each pair's inliers, for all
    pairs at once.  The DLT rows of a match are ``[0, -a, y' a]`` and ``[a, 0, -x' a]`` (``a = [x, y,
    1]`` in image 1, ``(x', y')`` in image 2), so the 9x9 normal matrix ``A^T A`` is made of four 3x3
    sums, ``S_w = sum w a a^T`` for ``w = 1, x', y', x'^2 + y'^2``: ``[[S_1, 0, -S_x'], [0, S_1,
    -S_y'], [-S_x', -S_y', S_r]]``; those come from one batched product of 4 weights by the 6
    monomials of ``a a^T``.  Its smallest eigenvector (batched ``eigh``) is the smallest right
    singular vector of ``A``.  A pair is planar when at least ``share`` of its inliers have a
    transfer error below ``tol`` pixels.  Pairs with fewer than 4 inliers, or a non-finite
    homography, are not planar.
    """
    B, N, _ = x1.shape
    if B == 0:
        return np.zeros(0, bool)
    # (no NumPy reductions over the last axis of size 2 here: they are slow; columns instead)
    m = inliers & np.isfinite(x1[..., 0]) & np.isfinite(x1[..., 1]) & np.isfinite(x2[..., 0]) & np.isfinite(x2[..., 1])
    cnt = m.sum(1)
    w = m.astype(np.float64)
    n = np.maximum(cnt, 1).astype(np.float64)
    x1 = np.where(m[..., None], x1, 0.0)
    x2 = np.where(m[..., None], x2, 0.0)

    def normalize(x):
        c = np.einsum("bn,bnk->bk", w, x) / n[:, None]  # centroid of the inliers [B,2]
        d = x - c[:, None]
        s = np.sqrt(2) / np.maximum(np.einsum("bn,bn->b", np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2), w) / n, 1e-12)
        T = np.zeros((B, 3, 3))
        T[:, 0, 0] = T[:, 1, 1] = s
        T[:, 0, 2], T[:, 1, 2], T[:, 2, 2] = -s * c[:, 0], -s * c[:, 1], 1.0
        return d * s[:, None, None], T

    a, T1 = normalize(x1)
    b, T2 = normalize(x2)
    ax, ay = a[..., 0], a[..., 1]
    mono = np.stack([ax * ax, ax * ay, ax, ay * ay, ay, np.ones_like(ax)], -1)  # [B,N,6]
    bx, by = b[..., 0], b[..., 1]
    wts = np.stack([w, w * bx, w * by, w * (bx * bx + by * by)], 1)  # [B,4,N], 0 off the inliers
    sums = wts @ mono  # [B,4,6]
    idx = np.array([[0, 1, 2], [1, 3, 4], [2, 4, 5]])
    S = sums[:, :, idx]  # [B,4,3,3]: S_1, S_x', S_y', S_r
    ata = np.zeros((B, 9, 9))
    ata[:, 0:3, 0:3] = ata[:, 3:6, 3:6] = S[:, 0]
    ata[:, 0:3, 6:9] = ata[:, 6:9, 0:3] = -S[:, 1]
    ata[:, 3:6, 6:9] = ata[:, 6:9, 3:6] = -S[:, 2]
    ata[:, 6:9, 6:9] = S[:, 3]
    ok = cnt >= 4
    ata[~ok] = np.eye(9)  # keeps eigh finite; these pairs are not planar anyway
    _, vec = np.linalg.eigh(ata)
    h = vec[..., 0].reshape(B, 3, 3)
    with np.errstate(all="ignore"):
        H = np.linalg.inv(T2) @ h @ T1
        ok &= np.isfinite(H).all((1, 2))
        H = np.where(ok[:, None, None], H, np.eye(3))
        u = H[:, None, 0, 0] * x1[..., 0] + H[:, None, 0, 1] * x1[..., 1] + H[:, None, 0, 2]
        v = H[:, None, 1, 0] * x1[..., 0] + H[:, None, 1, 1] * x1[..., 1] + H[:, None, 1, 2]
        z = H[:, None, 2, 0] * x1[..., 0] + H[:, None, 2, 1] * x1[..., 1] + H[:, None, 2, 2]
        ex, ey = u / z - x2[..., 0], v / z - x2[..., 1]
        good = (ex * ex + ey * ey < tol * tol) & m
    return ok & (good.sum(1) / np.maximum(cnt, 1) >= share)  # as np.mean(err < tol) >= share


def flag_planar_loop(res: RansacResult, p1: torch.Tensor, p2: torch.Tensor, threshold: float,
                     share: float = 0.95) -> None:
    """The pair-by-pair planar check (an SVD of each pair's DLT system): the oracle of :func:`flag_planar`."""
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
