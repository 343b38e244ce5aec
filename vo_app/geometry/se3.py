"""Rigid-motion helpers on 4x4 homogeneous matrices (float64, batched on leading dims)."""
from __future__ import annotations

import numpy as np


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Stack ``R [...,3,3]`` and ``t [...,3]`` into ``T [...,4,4]``."""
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if R.shape[-2:] != (3, 3) or t.shape[-1] != 3 or R.shape[:-2] != t.shape[:-1]:
        raise ValueError(f"make_pose: expected R [...,3,3] and t [...,3], got {R.shape} and {t.shape}")
    T = np.zeros(R.shape[:-2] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def inverse(T: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms ``T [...,4,4]``."""
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    Rt = np.swapaxes(R, -1, -2)
    return make_pose(Rt, -np.einsum("...ij,...j->...i", Rt, t))


def rotation_angle(R: np.ndarray) -> np.ndarray:
    """Rotation angle in radians of ``R [...,3,3]``: ``atan2(|axis part|, cos part)``.

    ``arccos((tr R - 1) / 2)`` alone is ill-conditioned for small angles: the cosine of 0.03 deg is
    1 - 1.4e-7, and ground truth written with 7 significant digits (KITTI's ``poses.txt``, whose
    rotations have determinants near 1 - 4e-8) moves the trace by about that much, so that form
    reads small per-pair errors high and scatters them (docs/results.md, measured on KITTI;
    ``tests/test_geometry.py::test_rotation_angle_small_rotations_of_rounded_poses``). The
    skew-symmetric part carries the sine to full relative precision."""
    R = np.asarray(R, dtype=np.float64)
    c = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arctan2(0.5 * np.linalg.norm(_axis_part(R), axis=-1), c)


def _axis_part(R: np.ndarray) -> np.ndarray:
    """``(R - R^T)^vee [...,3]``: ``2 sin(theta)`` times the unit rotation axis."""
    return np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)


def so3_exp(w: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: axis-angle ``w [...,3]`` to ``R [...,3,3]``."""
    w = np.asarray(w, dtype=np.float64)
    theta = np.linalg.norm(w, axis=-1)[..., None, None]
    W = skew(w)
    small = theta < 1e-8
    safe = np.where(small, 1.0, theta)
    A = np.where(small, 1.0 - theta**2 / 6.0, np.sin(safe) / safe)
    B = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    return np.eye(3) + A * W + B * (W @ W)


def so3_log(R: np.ndarray) -> np.ndarray:
    """Inverse of :func:`so3_exp` for rotation angles below pi: ``R [...,3,3] -> w [...,3]``."""
    theta = rotation_angle(R)[..., None]
    v = _axis_part(R)
    s = np.sin(theta)
    factor = np.where(theta < 1e-8, 0.5, theta / (2.0 * np.where(np.abs(s) < 1e-12, 1.0, s)))
    return factor * v


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices ``[...,3,3]`` of vectors ``v [...,3]``."""
    v = np.asarray(v, dtype=np.float64)
    z = np.zeros(v.shape[:-1])
    return np.stack(
        [
            np.stack([z, -v[..., 2], v[..., 1]], -1),
            np.stack([v[..., 2], z, -v[..., 0]], -1),
            np.stack([-v[..., 1], v[..., 0], z], -1),
        ],
        -2,
    )


def nearest_rotation(M: np.ndarray) -> np.ndarray:
    """Closest rotation (Frobenius) to ``M [...,3,3]``."""
    U, _, Vt = np.linalg.svd(M)
    D = np.ones(M.shape[:-1])
    D[..., 2] = np.sign(np.linalg.det(U @ Vt))
    return (U * D[..., None, :]) @ Vt


def interpolate(T0: np.ndarray, T1: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """Poses between ``T0`` and ``T1`` (``[...,4,4]``) at ``alpha`` (a float or ``[...]``; the batch
    shapes broadcast): linear in translation, geodesic in rotation, ``R0 exp(alpha log(R0^T R1))``
    (the relative rotation below pi).  ``alpha = 0`` returns ``T0`` exactly.

    The one pose interpolation: ``vo-run``'s filled rows (``pipeline/output.py``) and ground truth
    at image times (``io/tum.py``)."""
    T0 = np.asarray(T0, dtype=np.float64)
    T1 = np.asarray(T1, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)[..., None]
    R0, R1 = T0[..., :3, :3], T1[..., :3, :3]
    R = R0 @ so3_exp(a * so3_log(np.swapaxes(R0, -1, -2) @ R1))
    t = (1.0 - a) * T0[..., :3, 3] + a * T1[..., :3, 3]
    shape = np.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    return make_pose(np.broadcast_to(R, shape + (3, 3)), np.broadcast_to(t, shape + (3,)))
