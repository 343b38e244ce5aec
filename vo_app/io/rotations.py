"""Unit quaternions <-> rotation matrices, and pose interpolation.

Quaternions are Hamilton, stored ``(qx, qy, qz, qw)`` (the TUM file order),
and returned with ``qw >= 0``.  All functions accept a leading batch shape.
"""
from __future__ import annotations

import numpy as np


def quat_to_rotation(q: np.ndarray) -> np.ndarray:
    """``q [..., 4]`` (qx, qy, qz, qw), any norm > 0 -> ``R [..., 3, 3]`` float64."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    R = np.empty(q.shape[:-1] + (3, 3))
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - z * w)
    R[..., 0, 2] = 2 * (x * z + y * w)
    R[..., 1, 0] = 2 * (x * y + z * w)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - x * w)
    R[..., 2, 0] = 2 * (x * z - y * w)
    R[..., 2, 1] = 2 * (y * z + x * w)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def rotation_to_quat(R: np.ndarray) -> np.ndarray:
    """``R [..., 3, 3]`` -> unit ``q [..., 4]`` (qx, qy, qz, qw) with ``qw >= 0``.

    Shepperd's method (branch on the largest of trace and diagonal), so it is
    stable near 180 degrees.  A slightly non-orthonormal ``R`` gives the
    quaternion of a nearby rotation.
    """
    R = np.asarray(R, dtype=np.float64)
    batch = R.shape[:-2]
    m = R.reshape(-1, 3, 3)
    m00, m01, m02 = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    m10, m11, m12 = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    m20, m21, m22 = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]
    tr = m00 + m11 + m22
    case = np.argmax(np.stack([m00, m11, m22, tr], axis=-1), axis=-1)

    # One candidate (x, y, z, w) per case; only the chosen one is well conditioned.
    with np.errstate(divide="ignore", invalid="ignore"):
        s = 2.0 * np.sqrt(np.maximum(np.stack([1 + m00 - m11 - m22, 1 + m11 - m00 - m22,
                                               1 + m22 - m00 - m11, 1 + tr], -1), 1e-300))
        cand = np.stack([
            np.stack([s[:, 0] / 4, (m01 + m10) / s[:, 0], (m02 + m20) / s[:, 0], (m21 - m12) / s[:, 0]], -1),
            np.stack([(m01 + m10) / s[:, 1], s[:, 1] / 4, (m12 + m21) / s[:, 1], (m02 - m20) / s[:, 1]], -1),
            np.stack([(m02 + m20) / s[:, 2], (m12 + m21) / s[:, 2], s[:, 2] / 4, (m10 - m01) / s[:, 2]], -1),
            np.stack([(m21 - m12) / s[:, 3], (m02 - m20) / s[:, 3], (m10 - m01) / s[:, 3], s[:, 3] / 4], -1),
        ], axis=1)
    q = cand[np.arange(len(case)), case]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q[q[:, 3] < 0] *= -1.0
    return q.reshape(batch + (4,))


def slerp(q0: np.ndarray, q1: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation ``q0 -> q1`` at ``alpha`` in [0, 1]; ``[..., 4]`` -> ``[..., 4]``.

    Takes the short way round; falls back to normalised lerp for nearly equal
    quaternions.  The result has ``qw >= 0``.
    """
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    theta = np.arccos(dot)
    sin = np.sin(theta)
    small = sin < 1e-9
    safe = np.where(small, 1.0, sin)
    w0 = np.where(small, 1 - a, np.sin((1 - a) * theta) / safe)
    w1 = np.where(small, a, np.sin(a * theta) / safe)
    q = w0 * q0 + w1 * q1
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0, -q, q)


def interpolate_poses(T0: np.ndarray, T1: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """Blend 4x4 poses ``[..., 4, 4]``: lerp on translation, slerp on rotation."""
    T0 = np.asarray(T0, dtype=np.float64)
    T1 = np.asarray(T1, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    q = slerp(rotation_to_quat(T0[..., :3, :3]), rotation_to_quat(T1[..., :3, :3]), a)
    out = np.zeros(np.broadcast_shapes(T0.shape[:-2], T1.shape[:-2], a.shape) + (4, 4))
    out[..., :3, :3] = quat_to_rotation(q)
    out[..., :3, 3] = (1 - a[..., None]) * T0[..., :3, 3] + a[..., None] * T1[..., :3, 3]
    out[..., 3, 3] = 1.0
    return out
