"""Camera motion profiles: smooth, seeded camera-to-world trajectories.

All profiles start near the origin looking along +z: the street profiles
1.6 m above the street's ground (``stopgo`` in the right half of the street, at
x = +0.75 m), ``indoor`` 1.5 m above the floor of the room of the same seed
(:mod:`.room`).  Rotations are built as ``R = Ry(yaw) Rx(pitch)
Rz(roll)`` in the y-down camera convention (positive yaw turns towards +x,
positive pitch looks up).
"""
from __future__ import annotations

import numpy as np

from .room import room_layout
from .texture import rng_for

#: names accepted by :func:`make_trajectory`.  New kinds go at the end: a kind's random stream
#: is ``rng_for(seed, 20, MOTIONS.index(kind))``.
MOTIONS = ("forward", "handheld", "rotation", "static", "indoor", "stopgo")
#: frames of Gaussian smoothing (sigma) of the ``indoor`` heading along the loop's corners.
_INDOOR_HEADING_SIGMA = 12.0
#: ``stopgo``: the lanes' offset (metres) from the street's centre line (right-hand traffic), the
#: camera's distance (metres) ahead of the point the vehicle pivots about, and the frames of a stop.
_STOPGO_LANE = 0.75
_STOPGO_ARM = 0.5
_STOPGO_STOP = 20


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


def _indoor(rng: np.random.Generator, i: np.ndarray, seed: int):
    """Yaw, pitch, roll ``[N]`` (radians) and positions ``[N, 3]`` (metres) of the ``indoor`` walk.

    The camera follows the room's loop (:class:`.room.Loop`) at 0.014..0.026 m/frame (0.4..0.8
    m/s at 30 Hz) with step sway and a slow drift sideways (together < 0.09 m off the loop,
    < 0.1 m with the along-track jitter; :data:`.room.CLEARANCE` budgets for it), bobbing
    up and down by < 0.1 m.  The yaw is the smoothed direction of travel plus a sweep of
    up to +-40 deg over 3..7 s that is 0 at the first frame.
    """
    deg = np.pi / 180.0
    loop = room_layout(seed).loop
    speed = 0.02 * (1.0 + _wave(rng, i, 0.3, (60.0, 150.0)))
    u = loop.start + np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]))])
    xz, travel = loop.points(u)
    # heading: the loop's, extended past both ends at the end speeds and smoothed over its corners
    k = int(np.ceil(3 * _INDOOR_HEADING_SIGMA))
    ext = np.arange(1, k + 1, dtype=np.float64)
    u_ext = np.concatenate([u[0] - speed[0] * ext[::-1], u, u[-1] + speed[-1] * ext])
    g = np.exp(-0.5 * (np.arange(-k, k + 1) / _INDOOR_HEADING_SIGMA) ** 2)
    heading = np.convolve(loop.points(u_ext)[1], g / g.sum(), mode="valid")
    step = rng.uniform(14.0, 18.0)  # frames per step (about 2 steps/s at 30 Hz)
    side = _wave(rng, i, 0.025, (2 * step - 1.0, 2 * step + 1.0), 1) + _wave(rng, i, 0.06, (90.0, 240.0), 1)
    along = _wave(rng, i, 0.01, (8.0, 20.0))
    y = _wave(rng, i, 0.012, (step - 0.5, step + 0.5), 1) + _wave(rng, i, 0.08, (150.0, 400.0), 1)
    # the loop's own direction (not the smoothed one) splits the wobble into along/sideways
    d = np.stack([np.sin(travel), np.cos(travel)], axis=1)  # (x, z) of travel
    right = np.stack([d[:, 1], -d[:, 0]], axis=1)  # (x, z) to the right of travel
    xz = xz + along[:, None] * d + side[:, None] * right
    pos = np.stack([xz[:, 0], y, xz[:, 1]], axis=1)
    a1, p1 = rng.uniform(18.0, 28.0) * deg, rng.uniform(100.0, 200.0)
    a2, p2 = rng.uniform(5.0, 10.0) * deg, rng.uniform(40.0, 80.0)
    sweep = a1 * np.sin(2 * np.pi * i / p1) + a2 * np.sin(2 * np.pi * i / p2)
    yaw = heading + sweep + _wave(rng, i, 1.0 * deg, (6.0, 14.0))
    pitch = (-rng.uniform(0.0, 8.0) * deg + _wave(rng, i, 4.0 * deg, (80.0, 200.0), 1)
             + _wave(rng, i, 0.8 * deg, (5.0, 12.0)))
    roll = _wave(rng, i, 1.5 * deg, (40.0, 120.0), 1) + _wave(rng, i, 0.6 * deg, (6.0, 14.0))
    return yaw, pitch, roll, pos


def _ease(m: int) -> np.ndarray:
    """``[m]`` values rising smoothly (cosine) from near 0 to exactly 1: frames 1..m of an ``m``-step move."""
    return 0.5 * (1.0 - np.cos(np.pi * np.arange(1, m + 1) / m))


def _stopgo(rng: np.random.Generator, i: np.ndarray):
    """Yaw, pitch, roll ``[N]`` (radians) and positions ``[N, 3]`` (metres) of the ``stopgo`` drive.

    A vehicle waits 5 frames, accelerates (cosine ramp over 4.5..6 s) to 0.95..1.05 m/frame,
    cruises, brakes (4..5 s) to a full stop that it holds for 20 frames (the pose does not
    change at all), pans the camera 15..25 deg to one side and back while standing (pure
    rotation about the camera centre, 2.4..3.2 s), then turns round in a three-part U-turn
    at walking pace: it pivots 90 deg to the left in place (2.4..3.2 s, about a point
    ``_STOPGO_ARM`` behind the camera, so the camera moves on a 0.5 m arc), creeps 1.5 m
    across the street (peak ~0.2 m/frame), pivots another 90 deg and drives back in the
    other lane.  The street (:mod:`.scene`) is straight and has no side road, so a turn at
    speed would leave its free space; the pivots keep the camera within ``_STOPGO_LANE +
    _STOPGO_ARM`` = 1.25 m of the centre line (kerb objects start at 2.2 m).  Legs
    alternate between about z = 0 and z = 60..80 m, so the street stays short however
    long the sequence.  Road bumps (height, pitch, roll, steering) scale with the speed,
    and the nose dips when braking; all are exactly 0 while stopped.
    """
    deg = np.pi / 180.0
    # the wobble's draws come first, in a fixed number, so a longer sequence starts with the same frames
    bump_y = _wave(rng, i, 0.015, (5.0, 15.0))
    bump_pitch = _wave(rng, i, 0.25 * deg, (6.0, 20.0), 3)
    bump_roll = _wave(rng, i, 0.2 * deg, (8.0, 25.0), 3)
    steer = _wave(rng, i, 0.3 * deg, (30.0, 60.0))
    n = len(i)
    cx, cz, head, pan = [_STOPGO_LANE], [-_STOPGO_ARM], [0.0], [0.0]

    def extend(x, z, h, p):
        cx.extend(np.broadcast_to(x, (len(p),)).tolist())
        cz.extend(np.broadcast_to(z, (len(p),)).tolist())
        head.extend(np.broadcast_to(h, (len(p),)).tolist())
        pan.extend(np.asarray(p, np.float64).tolist())

    def hold(m):
        extend(cx[-1], cz[-1], head[-1], np.zeros(m))

    def drive(ds):  # per-step distances along the current heading
        s = np.cumsum(ds)
        h = head[-1]
        extend(cx[-1] + s * np.sin(h), cz[-1] + s * np.cos(h), h, np.zeros(len(ds)))

    def pivot(dh, m):
        extend(cx[-1], cz[-1], head[-1] + dh * _ease(m), np.zeros(m))

    hold(5)
    leg = 0
    while len(cx) <= n:  # one frame more than needed: the speed at the last frame looks one step ahead
        vmax = rng.uniform(0.95, 1.05)
        m_acc, m_brake = int(rng.integers(45, 61)), int(rng.integers(40, 51))
        target = rng.uniform(60.0, 80.0) if leg % 2 == 0 else rng.uniform(0.0, 5.0)
        pan_amp = rng.choice([-1.0, 1.0]) * rng.uniform(15.0, 25.0) * deg
        m_pan, m_turn1, m_turn2, m_cross = (int(v) for v in rng.integers((24, 24, 24, 18), (33, 33, 33, 25)))
        k = np.arange(m_acc) + 0.5
        drive(vmax * 0.5 * (1.0 - np.cos(np.pi * k / m_acc)))  # sums to vmax * m_acc / 2
        cruise = abs(target - cz[-1]) - vmax * m_brake / 2.0
        drive(np.full(max(5, int(round(cruise / vmax))), vmax))
        k = np.arange(m_brake) + 0.5
        drive(vmax * 0.5 * (1.0 + np.cos(np.pi * k / m_brake)))
        hold(_STOPGO_STOP)
        p = pan_amp * 0.5 * (1.0 - np.cos(2 * np.pi * np.arange(1, m_pan + 1) / m_pan))
        p[-1] = 0.0
        extend(cx[-1], cz[-1], head[-1], p)
        hold(5)
        pivot(-np.pi / 2, m_turn1)
        hold(3)
        k = np.arange(m_cross) + 0.5
        drive(2 * _STOPGO_LANE / m_cross * (1.0 - np.cos(2 * np.pi * k / m_cross)))  # sums to 2 lanes
        hold(3)
        pivot(-np.pi / 2, m_turn2)
        hold(5)
        leg += 1
    cx, cz, head, pan = (np.asarray(a, np.float64) for a in (cx, cz, head, pan))
    step = np.hypot(np.diff(cx), np.diff(cz))  # [len - 1] distance of the pivot point per step
    before, after = np.concatenate([[0.0], step])[:n], step[:n]  # it stood still before frame 0
    speed = 0.5 * (before + after)  # m/frame at each frame
    accel = after - before  # m/frame^2, > 0 speeding up
    cx, cz, head, pan = cx[:n], cz[:n], head[:n], pan[:n]
    x = cx + _STOPGO_ARM * np.sin(head)
    z = cz + _STOPGO_ARM * np.cos(head)
    y = bump_y * speed  # bumps in proportion to the speed (about 1 m/frame when cruising)
    yaw = head + pan + steer * speed
    pitch = 8.0 * deg * accel + bump_pitch * speed  # the nose dips when braking
    roll = bump_roll * speed
    return yaw, pitch, roll, np.stack([x, y, z], axis=1)


def make_trajectory(kind: str, n_frames: int, seed: int = 0, fps: float = 10.0):
    """Ground-truth camera motion.

    Args:
        kind: ``forward`` (driving at ~1 m/frame along a gently curving lane),
            ``handheld`` (walking at ~0.15 m/frame with 6-DoF wobble),
            ``rotation`` (pan and tilt about a fixed centre), ``static``,
            ``indoor`` (a handheld camera walking at ~0.02 m/frame around the
            loop of the room ``make_scene(seed, "indoor")``, yaw sweeping up to
            +-40 deg about the direction of travel; tuned for 30 Hz),
            ``stopgo`` (stop-and-go driving in the street, KITTI-like at 10 Hz: from
            standstill to ~1 m/frame, cruise, brake to a 20-frame stop, a 15..25 deg
            pan and back while standing, a U-turn of two 90 deg pivots, back in the
            other lane; repeats for long sequences, see :func:`_stopgo`).
        n_frames: number of poses (>= 1).
        seed: the random shape of the path; same seed, same bits.
        fps: frame rate for the timestamps (the motion per frame does not depend on it).

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
    elif kind == "indoor":
        yaw, pitch, roll, pos = _indoor(rng, i, seed)
    elif kind == "stopgo":
        yaw, pitch, roll, pos = _stopgo(rng, i)
    else:  # static
        yaw = pitch = roll = np.zeros(n)
        pos = np.zeros((n, 3))
    return _poses(pos, yaw, pitch, roll), times
