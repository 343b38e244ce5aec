"""Camera motion profiles: smooth, seeded camera-to-world trajectories.

All profiles start near the origin of the street scene, looking along +z,
1.6 m above the ground.  Rotations are built as ``R = Ry(yaw) Rx(pitch)
Rz(roll)`` in the y-down camera convention (positive yaw turns towards +x,
positive pitch looks up).
"""
from __future__ import annotations

import numpy as np

from .texture import rng_for

#: names accepted by :func:`make_trajectory`.
MOTIONS = ("forward", "handheld", "rotation", "static")


def euler_to_matrix(yaw, pitch, roll) -> np.ndarray:
    """``[N, 3, 3]`` rotations ``Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (radians)."""
    yaw, pitch, roll = (np.atleast_1d(np.asarray(a, np.float64)) for a in (yaw, pitch, roll))
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    n = len(yaw)
    ry = np.zeros((n, 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = cy, sy, 1, -sy, cy
    # positive pitch tilts the optical axis up (towards -y)
    rx = np.zeros((n, 3, 3))
    rx[:, 0, 0], rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = 1, cp, -sp, sp, cp
    rz = np.zeros((n, 3, 3))
    rz[:, 0, 0], rz[:, 0, 1], rz[:, 1, 0], rz[:, 1, 1], rz[:, 2, 2] = cr, -sr, sr, cr, 1
    return ry @ rx @ rz


def _wave(rng: np.random.Generator, x: np.ndarray, amplitude: float, period: tuple, count: int = 2) -> np.ndarray:
    """Sum of ``count`` sinusoids of random period (in units of ``x``) and phase, peak <= ``amplitude``."""
    out = np.zeros_like(x, dtype=np.float64)
    for _ in range(count):
        p = rng.uniform(*period)
        out += np.sin(2 * np.pi * x / p + rng.uniform(0, 2 * np.pi))
    return out * (amplitude / count)


def _poses(pos: np.ndarray, yaw, pitch, roll) -> np.ndarray:
    n = len(pos)
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, :3, :3] = euler_to_matrix(yaw, pitch, roll)
    poses[:, :3, 3] = pos
    return poses


def make_trajectory(kind: str, n_frames: int, seed: int = 0, fps: float = 10.0):
    """Ground-truth camera motion.

    Args:
        kind: ``forward`` (driving at ~1 m/frame along a gently curving lane),
            ``handheld`` (walking at ~0.15 m/frame with 6-DoF wobble),
            ``rotation`` (pan and tilt about a fixed centre), ``static``.
        n_frames: number of poses (>= 1).
        seed: the random shape of the path; same seed, same bits.
        fps: frame rate for the timestamps.

    Returns:
        ``(poses, timestamps)``: float64 ``[N, 4, 4]`` camera-to-world and
        float64 ``[N]`` seconds, starting at 0.
    """
    if kind not in MOTIONS:
        raise ValueError(f"unknown motion {kind!r}; expected one of {MOTIONS}")
    n = int(n_frames)
    if n < 1:
        raise ValueError("n_frames must be >= 1")
    if not fps > 0:
        raise ValueError("fps must be > 0")
    rng = rng_for(seed, 20, MOTIONS.index(kind))
    i = np.arange(n, dtype=np.float64)
    times = i / float(fps)
    deg = np.pi / 180.0
    if kind == "forward":
        speed = 1.0 + _wave(rng, i, 0.18, (25.0, 70.0))  # 0.82 .. 1.18 m/frame, smooth
        z = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]))])
        # lateral lane position as a smooth function of distance: gentle curves
        a1, l1 = rng.uniform(0.5, 0.9), rng.uniform(80.0, 130.0)
        a2, l2 = rng.uniform(0.05, 0.12), rng.uniform(40.0, 60.0)
        ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
        w1, w2 = 2 * np.pi / l1, 2 * np.pi / l2
        x = a1 * np.sin(w1 * z + ph1) + a2 * np.sin(w2 * z + ph2)
        dxdz = a1 * w1 * np.cos(w1 * z + ph1) + a2 * w2 * np.cos(w2 * z + ph2)
        yaw = np.arctan(dxdz) + _wave(rng, i, 0.3 * deg, (30.0, 60.0))
        pitch = _wave(rng, i, 0.25 * deg, (6.0, 20.0), 3)
        roll = _wave(rng, i, 0.2 * deg, (8.0, 25.0), 3)
        y = _wave(rng, i, 0.015, (5.0, 15.0))
        pos = np.stack([x, y, z], axis=1)
    elif kind == "handheld":
        speed = 0.15 * (1.0 + _wave(rng, i, 0.25, (20.0, 50.0)))
        z = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]))])
        step = rng.uniform(5.0, 7.0)  # frames per step
        x = _wave(rng, i, 0.04, (2 * step - 0.5, 2 * step + 0.5), 1) + _wave(rng, i, 0.05, (30.0, 80.0), 1)
        y = _wave(rng, i, 0.03, (step - 0.3, step + 0.3), 1) + _wave(rng, i, 0.015, (3.0, 9.0))
        z = z + _wave(rng, i, 0.02, (3.0, 9.0))
        yaw = _wave(rng, i, 4.0 * deg, (40.0, 90.0), 1) + _wave(rng, i, 1.6 * deg, (6.0, 14.0))
        pitch = _wave(rng, i, 1.4 * deg, (5.0, 12.0)) + _wave(rng, i, 1.5 * deg, (30.0, 70.0), 1)
        roll = _wave(rng, i, 1.2 * deg, (6.0, 14.0))
        pos = np.stack([x, y, z], axis=1)
    elif kind == "rotation":
        amp = rng.uniform(25.0, 40.0) * deg
        period = rng.uniform(80.0, 120.0)
        yaw = amp * np.sin(2 * np.pi * i / period + rng.uniform(-0.5, 0.5))
        pitch = _wave(rng, i, 3.0 * deg, (25.0, 60.0))
        roll = np.zeros(n)
        pos = np.zeros((n, 3))
    else:  # static
        yaw = pitch = roll = np.zeros(n)
        pos = np.zeros((n, 3))
    return _poses(pos, yaw, pitch, roll), times
