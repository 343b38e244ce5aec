"""Unit quaternions <-> rotation matrices (the TUM files' rotations).

Pose interpolation is ``vo_app.geometry.se3.interpolate`` (geodesic on the rotation matrices).

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
