"""GTSAM against Ceres (pyceres) on one synthetic sliding-window problem (issue 31, "Dependencies").

Usage: .venv/bin/python benchmarks/backend_solvers.py [--points 300,600,1500] [--repeats 3]
           [--max-iters 10] [--kernel huber|cauchy] [--keyframes 200] [--stream-outliers 3,10]
           [--point-prior 0] [--skip window,lag,gil] [--seed 0]

Part 1, the window. Seven keyframes on a forward drive (1 m apart, a slow yaw), a pinhole camera
with KITTI 00's intrinsics scaled to 832x256, N points as 3-D points, each tracked over 3-5
keyframes (about 3.5 observations a point), pixel noise 0.5 px, 5 % of the observations moved
5-40 px (outliers), a robust kernel 2 sigma (1 px) wide on each observation (Huber, or Cauchy
with ``--kernel``). Initial guess: poses chained from two-view steps with 0.3 deg rotation noise,
5 % step-length noise and 3 cm position noise; points along their first ray at a depth 5 % off.
Gauge: the first keyframe held (Ceres: constant blocks; GTSAM: a prior of 1e-4) and the
distance between the first two keyframes' centres tied to the truth (a range factor, sigma
1 mm). Levenberg-Marquardt, at most ``--max-iters`` iterations, stop at a relative cost decrease
below 1e-6, one thread. Printed per solver and N: the time to build the problem in Python, the
time to solve it and the iterations, the time Ceres spent in the Python cost functions, the
reprojection RMSE on the inlier observations (initial -> final) and the mean rotation and
centre errors of keyframes 1-6 against the truth. Times are the median of ``--repeats`` builds
and solves of the same problem (one where a solve takes over 2 s).

  - ``gtsam``: ``GenericProjectionFactorCal3_S2`` (C++), ``noiseModel.Robust`` with
    ``mEstimator.Huber`` / ``Cauchy``, ``RangeFactorPose3``, ``LevenbergMarquardtOptimizer``.
  - ``ceres/obs``: pyceres 2.6 ships no reprojection cost in C++ (only ``NormalPrior`` and
    ``NormalError``), so the reprojection cost is a Python ``pyceres.CostFunction`` with an
    analytic Jacobian in plain float arithmetic: one residual block per observation, ``HuberLoss`` / ``CauchyLoss``; Ceres
    calls back into Python once per observation per evaluation. ``SPARSE_SCHUR``.
  - ``ceres/track``: the same cost in numpy, batched per track (one Python call per point per evaluation),
    the Huber kernel folded into each observation's residual (the same cost, ``TrivialLoss``),
    because Ceres applies a loss to a whole residual block. Huber only.

Part 2, the fixed-lag smoothers (GTSAM; Ceres has no marginalisation). ``--keyframes`` keyframes
of a longer drive, 50 new tracks per keyframe (3-5 keyframes long), 5 % outliers moved
``--stream-outliers`` px (default 3-10: what the front end's gates let through), the robust
kernel; a point enters the smoother with its third observation once its rays are 1 deg apart
(``--point-prior S``: with a prior of S m at its initial value). Each new pose starts from the
previous estimate times a two-view step (noise as above), which also enters as a between
factor (0.3 deg, 5 cm). A key's timestamp is its keyframe index (a point's: its latest
observation), lag 6.5: the window holds 7 keyframes. ``BatchFixedLagSmoother`` (LM, at most
``--max-iters`` iterations) and ``IncrementalFixedLagSmoother`` (iSAM2, one update a keyframe)
run each in its own process, so that a crash is reported, not fatal. Printed: time per
keyframe (Python build + update + reading the newest pose): first, median, median of the last
50, worst, and the median per tenth of the run; the last keyframe's centre error as a share of
the path.

Part 3: does the solve release the GIL (the issue wants the back end overlapped with the flow
thread)? A Python thread counts while the solve runs in another thread; its rate over that
beside an idle (sleeping) thread: near 1 releases the GIL, near 0 holds it.

A solver that is not installed is skipped with a one-line message. Timings are wall-clock on
whatever machine runs this: compare the solvers within one run (the ratios).
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from vo_app.geometry.se3 import inverse, make_pose, rotation_angle, skew, so3_exp, so3_log

try:
    import gtsam
except ImportError:  # pragma: no cover - depends on the environment
    gtsam = None
try:
    import pyceres
except ImportError:  # pragma: no cover - depends on the environment
    pyceres = None

#: KITTI 00 (left colour camera, 1241x376) scaled to 832x256: fx, fy, cx, cy.
WIDTH, HEIGHT = 832, 256
FX, FY = 718.856 * WIDTH / 1241, 718.856 * HEIGHT / 376
CX, CY = 607.1928 * WIDTH / 1241, 185.2157 * HEIGHT / 376
PIXEL_SIGMA = 0.5
HUBER_K = 2.0  # in sigmas of the whitened residual: 1 px
KERNEL = "huber"  # or "cauchy" (--kernel), same width
MAX_ITERS = 10  # --max-iters
OUTLIER_SHARE = 0.05
N_WINDOW = 7
#: outliers of the fixed-lag stream: the front end's gates leave the small ones (--stream-outliers)
STREAM_OUTLIER_PX = (3.0, 10.0)
#: sigma (m) of a weak prior on each new point of the stream at its initial value; 0: none (--point-prior)
POINT_PRIOR_M = 0.0


# ----------------------------------------------------------------------------- synthetic data
def drive(n: int, step: float = 1.0, yaw_amp: float = 0.25, period: float = 120.0) -> np.ndarray:
    """Camera-to-world poses ``[n,4,4]`` of a forward drive (camera z forward, y down): ``step`` m
    between keyframes, heading ``yaw_amp * sin(2 pi i / period)`` rad. Keyframe 0 is the world."""
    T = np.zeros((n, 4, 4))
    c = np.zeros(3)
    for i in range(n):
        R = so3_exp(np.array([0.0, yaw_amp * np.sin(2 * np.pi * i / period), 0.0]))
        T[i] = make_pose(R, c)
        c = c + R @ np.array([0.0, 0.0, step])
    return inverse(T[0])[None] @ T


def project(T_cw: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``[M,2]`` and depths ``[M]`` of world points ``X [M,3]`` in cameras ``T_cw [M,4,4]``."""
    Xc = np.einsum("mij,mj->mi", T_cw[:, :3, :3], X) + T_cw[:, :3, 3]
    z = Xc[:, 2]
    uv = np.stack([FX * Xc[:, 0] / z + CX, FY * Xc[:, 1] / z + CY], -1)
    return uv, z


def spawn_points(T_wc: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` world points ``[n,3]`` seen by camera ``T_wc``: uniform pixels, depth 6-40 m."""
    u = rng.uniform(0, WIDTH, n)
    v = rng.uniform(0, HEIGHT, n)
    depth = 1.0 / rng.uniform(1 / 40.0, 1 / 6.0, n)
    Xc = np.stack([(u - CX) / FX * depth, (v - CY) / FY * depth, depth], -1)
    return Xc @ T_wc[:3, :3].T + T_wc[:3, 3]


def observe(T_cw: np.ndarray, X: np.ndarray, rng: np.random.Generator,
            out_px: tuple[float, float] = (5.0, 40.0)) -> tuple[np.ndarray, bool, bool]:
    """One observation: noisy pixel ``[2]``, whether it is in the image, whether an outlier
    (moved by ``out_px`` pixels in a random direction)."""
    uv, z = project(T_cw[None], X[None])
    uv = uv[0] + rng.normal(0, PIXEL_SIGMA, 2)
    inside = bool(z[0] > 1.0 and 0 <= uv[0] < WIDTH and 0 <= uv[1] < HEIGHT)
    outlier = bool(rng.random() < OUTLIER_SHARE)
    if outlier:
        a = rng.uniform(0, 2 * np.pi)
        uv = uv + rng.uniform(*out_px) * np.array([np.cos(a), np.sin(a)])
    return uv, inside, outlier


def noisy_step(T_rel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A relative pose ``[4,4]`` as a two-view front end might give it: 0.3 deg rotation noise,
    5 % step-length noise, 3 cm position noise."""
    R = T_rel[:3, :3] @ so3_exp(rng.normal(0, np.deg2rad(0.3), 3))
    t = T_rel[:3, 3] * (1 + rng.normal(0, 0.05)) + rng.normal(0, 0.03, 3)
    return make_pose(R, t)


def init_point(T_wc_est: np.ndarray, uv: np.ndarray, X_true: np.ndarray, T_cw_true: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """A point on the ray of pixel ``uv`` from the estimated camera, at its true depth 5 % off."""
    depth = (T_cw_true[:3, :3] @ X_true + T_cw_true[:3, 3])[2] * (1 + rng.normal(0, 0.05))
    ray = np.array([(uv[0] - CX) / FX, (uv[1] - CY) / FY, 1.0])
    return T_wc_est[:3, :3] @ (ray * depth) + T_wc_est[:3, 3]


@dataclass
class Window:
    """One window problem. ``T_wc_*`` ``[K,4,4]``, points ``[N,3]``, observations: keyframe
    ``obs_kf [M]``, point ``obs_pt [M]``, pixel ``obs_uv [M,2]``, ``obs_out [M]`` outliers."""

    T_wc_true: np.ndarray
    X_true: np.ndarray
    T_wc_init: np.ndarray
    X_init: np.ndarray
    obs_kf: np.ndarray
    obs_pt: np.ndarray
    obs_uv: np.ndarray
    obs_out: np.ndarray

    @property
    def d01(self) -> float:
        return float(np.linalg.norm(self.T_wc_true[1, :3, 3] - self.T_wc_true[0, :3, 3]))


def make_window(n_points: int, seed: int) -> Window:
    """Seven keyframes, ``n_points`` tracks of 2-4 keyframes each (see the module docstring)."""
    rng = np.random.default_rng(seed)
    T_wc = drive(N_WINDOW, period=40.0)
    T_cw = inverse(T_wc)
    T_wc_init = [T_wc[0]]
    for i in range(1, N_WINDOW):
        T_wc_init.append(T_wc_init[-1] @ noisy_step(inverse(T_wc[i - 1]) @ T_wc[i], rng))
    T_wc_init = np.stack(T_wc_init)
    X, X0, kfs, pts, uvs, outs = [], [], [], [], [], []
    while len(X) < n_points:
        s = int(rng.integers(0, N_WINDOW - 1))
        Xw = spawn_points(T_wc[s], 1, rng)[0]
        length = int(rng.integers(3, 6))
        track = []
        for k in range(s, min(s + length, N_WINDOW)):
            uv, inside, out = observe(T_cw[k], Xw, rng)
            if not inside:
                break
            track.append((k, uv, out))
        if len(track) < 3:
            continue
        j = len(X)
        X.append(Xw)
        X0.append(init_point(T_wc_init[s], track[0][1], Xw, T_cw[s], rng))
        for k, uv, out in track:
            kfs.append(k), pts.append(j), uvs.append(uv), outs.append(out)
    return Window(T_wc, np.array(X), T_wc_init, np.array(X0), np.array(kfs), np.array(pts),
                  np.array(uvs), np.array(outs))


def score(win: Window, T_wc: np.ndarray, X: np.ndarray) -> dict:
    """Reprojection error (px) on the inliers, median and RMSE; mean rotation (deg) and centre (m)
    errors of keyframes 1.. against the truth."""
    inl = ~win.obs_out
    uv, _ = project(inverse(T_wc)[win.obs_kf[inl]], X[win.obs_pt[inl]])
    e2 = np.sum((uv - win.obs_uv[inl]) ** 2, -1)
    rmse, med = float(np.sqrt(np.mean(e2))), float(np.sqrt(np.median(e2)))
    rot = np.rad2deg(rotation_angle(np.swapaxes(T_wc[1:, :3, :3], -1, -2) @ win.T_wc_true[1:, :3, :3]))
    pos = np.linalg.norm(T_wc[1:, :3, 3] - win.T_wc_true[1:, :3, 3], axis=-1)
    return {"rmse_px": rmse, "med_px": med, "rot_deg": float(rot.mean()), "pos_m": float(pos.mean())}


# ----------------------------------------------------------------------------- GTSAM
def _gtsam_noises():
    est = gtsam.noiseModel.mEstimator.Huber if KERNEL == "huber" else gtsam.noiseModel.mEstimator.Cauchy
    pix = gtsam.noiseModel.Robust.Create(est.Create(HUBER_K), gtsam.noiseModel.Isotropic.Sigma(2, PIXEL_SIGMA))
    return pix, gtsam.noiseModel.Isotropic.Sigma(6, 1e-4), gtsam.noiseModel.Isotropic.Sigma(1, 1e-3)


def solve_gtsam(win: Window) -> dict:
    X_, P_ = gtsam.symbol_shorthand.X, gtsam.symbol_shorthand.L
    t0 = time.perf_counter()
    K = gtsam.Cal3_S2(FX, FY, 0.0, CX, CY)
    pix, prior, rng_noise = _gtsam_noises()
    graph = gtsam.NonlinearFactorGraph()
    values = gtsam.Values()
    for k in range(N_WINDOW):
        values.insert(X_(k), gtsam.Pose3(win.T_wc_init[k]))
    for j in range(len(win.X_init)):
        values.insert(P_(j), win.X_init[j])
    graph.add(gtsam.PriorFactorPose3(X_(0), gtsam.Pose3(win.T_wc_init[0]), prior))
    graph.add(gtsam.RangeFactorPose3(X_(0), X_(1), win.d01, rng_noise))
    for k, j, uv in zip(win.obs_kf.tolist(), win.obs_pt.tolist(), win.obs_uv):
        graph.add(gtsam.GenericProjectionFactorCal3_S2(uv, pix, X_(k), P_(j), K))
    t1 = time.perf_counter()
    params = gtsam.LevenbergMarquardtParams()
    params.setMaxIterations(MAX_ITERS)
    params.setRelativeErrorTol(1e-6)
    params.setAbsoluteErrorTol(0.0)
    opt = gtsam.LevenbergMarquardtOptimizer(graph, values, params)
    result = opt.optimize()
    t2 = time.perf_counter()
    T = np.stack([result.atPose3(X_(k)).matrix() for k in range(N_WINDOW)])
    Xs = np.stack([result.atPoint3(P_(j)) for j in range(len(win.X_init))])
    return {"build_s": t1 - t0, "solve_s": t2 - t1, "iters": opt.iterations(), "T_wc": T, "X": Xs}


# ----------------------------------------------------------------------------- Ceres
def _huber_fold(r: np.ndarray, J: list[np.ndarray], k: float) -> None:
    """Fold Ceres' Huber cost into residuals ``r [n,2]`` (whitened) and their Jacobians
    ``J [n,2,d]``, in place: ``|r'|^2 = rho(|r|^2)`` with ``rho(s) = 2 k sqrt(s) - k^2`` past
    ``k``, so that ``0.5 |r'|^2`` is the robust cost exactly."""
    n = np.linalg.norm(r, axis=-1)
    big = n > k
    if not big.any():
        return
    nb = n[big]
    q = np.sqrt(2 * k * nb - k * k)
    h = q / nb
    dh = (k / q * nb - q) / nb**2
    rb = r[big]
    for Jp in J:
        Jb = Jp[big]
        proj = np.einsum("ni,nid->nd", rb, Jb) / nb[:, None]
        Jp[big] = h[:, None, None] * Jb + (dh[:, None] * rb)[:, :, None] * proj[:, None, :]
    r[big] = h[:, None] * rb


if pyceres is not None:

    class _Reprojection(pyceres.CostFunction):
        """Whitened reprojection residuals of one point in ``n`` cameras; parameter blocks
        ``[X (3), w_0 (3), t_0 (3), ..., w_{n-1}, t_{n-1}]``, camera ``k``: ``x = R(w_k) X + t_k``
        (world to camera). ``fold_huber``: the Huber kernel inside (for ``n > 1``)."""

        def __init__(self, uv: np.ndarray, fold_huber: bool):
            super().__init__()
            self.uv = np.asarray(uv, np.float64).reshape(-1, 2)
            self.n = len(self.uv)
            self.fold = fold_huber
            self.set_num_residuals(2 * self.n)
            self.set_parameter_block_sizes([3] + [3, 3] * self.n)

        def Evaluate(self, parameters, residuals, jacobians):
            X = parameters[0]
            w = np.stack(parameters[1::2])
            t = np.stack(parameters[2::2])
            R = so3_exp(w)                                     # [n,3,3]
            Xc = R @ X + t                                     # [n,3]
            z = Xc[:, 2]
            r = np.stack([FX * Xc[:, 0] / z + CX, FY * Xc[:, 1] / z + CY], -1) - self.uv
            r /= PIXEL_SIGMA
            if jacobians is None:
                if self.fold:
                    _huber_fold(r, [], HUBER_K)
                residuals[:] = r.ravel()
                return True
            Jpi = np.zeros((self.n, 2, 3))                     # d r / d Xc, whitened
            Jpi[:, 0, 0] = FX / z
            Jpi[:, 0, 2] = -FX * Xc[:, 0] / z**2
            Jpi[:, 1, 1] = FY / z
            Jpi[:, 1, 2] = -FY * Xc[:, 1] / z**2
            Jpi /= PIXEL_SIGMA
            # d(R(w) X) / dw = -R [X]x Jr(w), Jr the right Jacobian of SO(3)
            th = np.linalg.norm(w, axis=-1)[:, None, None]
            W = skew(w)
            small = th < 1e-8
            ths = np.where(small, 1.0, th)
            a = np.where(small, 0.5, (1 - np.cos(ths)) / ths**2)
            b = np.where(small, 1.0 / 6.0, (ths - np.sin(ths)) / ths**3)
            Jr = np.eye(3) - a * W + b * (W @ W)
            JX = Jpi @ R                                       # [n,2,3]
            Jw = -(Jpi @ R @ skew(X)) @ Jr
            Jt = Jpi
            if self.fold:
                # points share one block across observations: fold each observation separately
                JXs = JX.copy()
                blocks = [JXs, Jw, Jt]
                _huber_fold(r, blocks, HUBER_K)
                JX = blocks[0]
            residuals[:] = r.ravel()
            if jacobians[0] is not None:
                full = np.zeros((self.n, 2, 3))
                full[:] = JX
                jacobians[0][:] = full.reshape(-1)
            for k in range(self.n):
                for blk, Jk in ((1 + 2 * k, Jw), (2 + 2 * k, Jt)):
                    if jacobians[blk] is not None:
                        full = np.zeros((2 * self.n, 3))
                        full[2 * k:2 * k + 2] = Jk[k]
                        jacobians[blk][:] = full.reshape(-1)
            return True

    class _ReprojectionScalar(pyceres.CostFunction):
        """:class:`_Reprojection` of one observation in plain float arithmetic (no numpy calls:
        the leanest Python callback we could write). Blocks ``[X (3), w (3), t (3)]``."""

        def __init__(self, uv: np.ndarray):
            super().__init__()
            self.u, self.v = float(uv[0]), float(uv[1])
            self.set_num_residuals(2)
            self.set_parameter_block_sizes([3, 3, 3])

        def Evaluate(self, parameters, residuals, jacobians):
            X0, X1, X2 = parameters[0].tolist()
            wx, wy, wz = parameters[1].tolist()
            tx, ty, tz = parameters[2].tolist()
            th2 = wx * wx + wy * wy + wz * wz
            if th2 < 1e-12:
                A, B, C = 1.0 - th2 / 6.0, 0.5 - th2 / 24.0, 1.0 / 6.0 - th2 / 120.0
            else:
                th = math.sqrt(th2)
                sn, cs = math.sin(th), math.cos(th)
                A, B, C = sn / th, (1.0 - cs) / th2, (th - sn) / (th2 * th)
            d = 1.0 - B * th2  # R = d I + A [w]x + B w w^T
            R00, R01, R02 = d + B * wx * wx, -A * wz + B * wx * wy, A * wy + B * wx * wz
            R10, R11, R12 = A * wz + B * wy * wx, d + B * wy * wy, -A * wx + B * wy * wz
            R20, R21, R22 = -A * wy + B * wz * wx, A * wx + B * wz * wy, d + B * wz * wz
            x = R00 * X0 + R01 * X1 + R02 * X2 + tx
            y = R10 * X0 + R11 * X1 + R12 * X2 + ty
            z = R20 * X0 + R21 * X1 + R22 * X2 + tz
            iz = 1.0 / z
            residuals[0] = (FX * x * iz + CX - self.u) / PIXEL_SIGMA
            residuals[1] = (FY * y * iz + CY - self.v) / PIXEL_SIGMA
            if jacobians is None:
                return True
            a, b = FX * iz / PIXEL_SIGMA, FY * iz / PIXEL_SIGMA
            ax, by = -a * x * iz, -b * y * iz  # d r / d Xc = [[a, 0, ax], [0, b, by]]
            J0 = (a * R00 + ax * R20, a * R01 + ax * R21, a * R02 + ax * R22)
            J1 = (b * R10 + by * R20, b * R11 + by * R21, b * R12 + by * R22)
            e = 1.0 - C * th2  # Jr = e I - B [w]x + C w w^T
            Jr = ((e + C * wx * wx, B * wz + C * wx * wy, -B * wy + C * wx * wz),
                  (-B * wz + C * wy * wx, e + C * wy * wy, B * wx + C * wy * wz),
                  (B * wy + C * wz * wx, -B * wx + C * wz * wy, e + C * wz * wz))
            out = []
            for p, q, r in (J0, J1):  # -(J_X [X]x) Jr
                m0, m1, m2 = q * X2 - r * X1, -p * X2 + r * X0, p * X1 - q * X0
                out += [-(m0 * Jr[0][c] + m1 * Jr[1][c] + m2 * Jr[2][c]) for c in range(3)]
            if jacobians[0] is not None:
                jacobians[0][:] = J0 + J1
            if jacobians[1] is not None:
                jacobians[1][:] = out
            if jacobians[2] is not None:
                jacobians[2][:] = (a, 0.0, ax, 0.0, b, by)
            return True

    class _NoOp(pyceres.CostFunction):
        """The shape of one observation's reprojection cost, only writing zeros."""

        def __init__(self):
            super().__init__()
            self.set_num_residuals(2)
            self.set_parameter_block_sizes([3, 3, 3])

        def Evaluate(self, parameters, residuals, jacobians):
            residuals[:] = 0.0
            if jacobians is not None:
                for J in jacobians:
                    if J is not None:
                        J[:] = 0.0
            return True

    class _Range(pyceres.CostFunction):
        """``(|t_1| - d) / sigma``: with keyframe 0 the world, ``|t_1|`` is keyframe 1's distance."""

        def __init__(self, d: float, sigma: float):
            super().__init__()
            self.d, self.sigma = d, sigma
            self.set_num_residuals(1)
            self.set_parameter_block_sizes([3])

        def Evaluate(self, parameters, residuals, jacobians):
            t = parameters[0]
            n = np.linalg.norm(t)
            residuals[0] = (n - self.d) / self.sigma
            if jacobians is not None and jacobians[0] is not None:
                jacobians[0][:] = t / (n * self.sigma)
            return True


def build_ceres(win: Window, per_track: bool, noop: bool = False):
    """The Ceres problem of ``win``: ``(problem, objects to keep alive, w, t, X)``; ``noop``: every
    reprojection cost a Python call that only writes zeros (the floor of a Python callback)."""
    T_cw = inverse(win.T_wc_init)
    w = [so3_log(T[:3, :3]).copy() for T in T_cw]
    t = [T[:3, 3].copy() for T in T_cw]
    X = [x.copy() for x in win.X_init]
    prob = pyceres.Problem()
    keep = []  # the cost and loss objects must outlive the solve
    if per_track:
        order = np.argsort(win.obs_pt, kind="stable")
        bounds = np.searchsorted(win.obs_pt[order], np.arange(len(X) + 1))
        for j in range(len(X)):
            sel = order[bounds[j]:bounds[j + 1]]
            cost = _Reprojection(win.obs_uv[sel], fold_huber=True)
            loss = pyceres.TrivialLoss()
            blocks = [X[j]]
            for k in win.obs_kf[sel].tolist():
                blocks += [w[k], t[k]]
            prob.add_residual_block(cost, loss, blocks)
            keep += [cost, loss]
    else:
        loss = pyceres.HuberLoss(HUBER_K) if KERNEL == "huber" else pyceres.CauchyLoss(HUBER_K)
        keep.append(loss)
        for k, j, uv in zip(win.obs_kf.tolist(), win.obs_pt.tolist(), win.obs_uv):
            cost = _NoOp() if noop else _ReprojectionScalar(uv)
            prob.add_residual_block(cost, loss, [X[j], w[k], t[k]])
            keep.append(cost)
    rc = _Range(win.d01, 1e-3)
    keep.append(rc)
    prob.add_residual_block(rc, pyceres.TrivialLoss(), [t[1]])
    prob.set_parameter_block_constant(w[0])
    prob.set_parameter_block_constant(t[0])
    return prob, keep, w, t, X


def solve_ceres(win: Window, per_track: bool) -> dict:
    t0 = time.perf_counter()
    prob, keep, w, t, X = build_ceres(win, per_track)
    t1 = time.perf_counter()
    opts = pyceres.SolverOptions()
    opts.linear_solver_type = pyceres.LinearSolverType.SPARSE_SCHUR
    opts.max_num_iterations = MAX_ITERS
    opts.function_tolerance = 1e-6
    opts.num_threads = 1
    summary = pyceres.SolverSummary()
    pyceres.solve(opts, prob, summary)
    t2 = time.perf_counter()
    T = inverse(make_pose(so3_exp(np.stack(w)), np.stack(t)))
    return {"build_s": t1 - t0, "solve_s": t2 - t1,
            "iters": summary.num_successful_steps + summary.num_unsuccessful_steps,
            "eval_s": summary.residual_evaluation_time_in_seconds + summary.jacobian_evaluation_time_in_seconds,
            "T_wc": T, "X": np.stack(X), "ok": summary.IsSolutionUsable()}


# ----------------------------------------------------------------------------- part 1
SOLVERS = {
    "gtsam": lambda w: solve_gtsam(w),
    "ceres/obs": lambda w: solve_ceres(w, per_track=False),
    "ceres/track": lambda w: solve_ceres(w, per_track=True),
}


def available(name: str) -> bool:
    if name == "ceres/track" and KERNEL != "huber":
        return False  # its kernel is folded into the residual for Huber only
    return (gtsam is not None) if name == "gtsam" else (pyceres is not None)


def window_table(points: list[int], repeats: int, seed: int) -> None:
    print(f"## One window: 7 keyframes, {KERNEL} kernel, LM at most {MAX_ITERS} iterations "
          f"(median of {repeats} runs; 1 run where one solve took over 2 s)\n")
    print("| N points | observations | solver | build ms | solve ms | iterations | Python callbacks ms "
          "| inlier px median, RMSE (init -> final) | rot err deg | centre err m | solve vs gtsam |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in points:
        win = make_window(n, seed)
        s0 = score(win, win.T_wc_init, win.X_init)
        gtsam_solve = None
        for name, fn in SOLVERS.items():
            if not available(name):
                continue
            runs = [fn(win)]
            while len(runs) < repeats and runs[0]["solve_s"] < 2.0:
                runs.append(fn(win))
            build = 1e3 * np.median([r["build_s"] for r in runs])
            solve = 1e3 * np.median([r["solve_s"] for r in runs])
            ev = "-" if "eval_s" not in runs[0] else "%.0f" % (1e3 * np.median([r["eval_s"] for r in runs]))
            sc = score(win, runs[-1]["T_wc"], runs[-1]["X"])
            if name == "gtsam":
                gtsam_solve = solve
            ratio = "%.1fx" % (solve / gtsam_solve) if gtsam_solve else "-"
            print(f"| {n} | {len(win.obs_kf)} | {name} | {build:.1f} | {solve:.1f} | {runs[-1]['iters']} | {ev} "
                  f"| {s0['med_px']:.2f}, {s0['rmse_px']:.2f} -> {sc['med_px']:.2f}, {sc['rmse_px']:.2f} | {sc['rot_deg']:.4f} | {sc['pos_m']:.4f} | {ratio} |")
        sys.stdout.flush()
    print(f"\n(initial guess: rotation error {s0['rot_deg']:.3f} deg, centre error {s0['pos_m']:.3f} m, "
          f"for the last N)\n")


# ----------------------------------------------------------------------------- part 2
def fixed_lag_worker(kind: str, n_kf: int, seed: int) -> dict:
    """Stream ``n_kf`` keyframes through a GTSAM fixed-lag smoother; per-keyframe times."""
    rng = np.random.default_rng(seed)
    X_, P_ = gtsam.symbol_shorthand.X, gtsam.symbol_shorthand.L
    K = gtsam.Cal3_S2(FX, FY, 0.0, CX, CY)
    pix, prior, rng_noise = _gtsam_noises()
    odo = gtsam.noiseModel.Diagonal.Sigmas(np.r_[np.full(3, np.deg2rad(0.3)), np.full(3, 0.05)])
    point_prior = gtsam.noiseModel.Isotropic.Sigma(3, max(POINT_PRIOR_M, 1e-9))
    lag = N_WINDOW - 0.5
    if kind == "batch":
        lm = gtsam.LevenbergMarquardtParams()
        lm.setMaxIterations(MAX_ITERS)
        lm.setRelativeErrorTol(1e-5)
        smoother = gtsam.BatchFixedLagSmoother(lag, lm)
    else:
        p = gtsam.ISAM2Params()
        p.setRelinearizeThreshold(0.01)
        p.relinearizeSkip = 1
        smoother = gtsam.IncrementalFixedLagSmoother(lag, p)
    T_wc = drive(n_kf)
    T_cw = inverse(T_wc)
    est = {0: T_wc[0]}
    tracks: list[dict] = []  # live tracks: point, remaining keyframes, pending observations
    next_pt = 0
    times, upd_times, n_factors = [], [], []
    for k in range(n_kf):
        t0 = time.perf_counter()
        graph = gtsam.NonlinearFactorGraph()
        values = gtsam.Values()
        stamps = {}
        if k == 0:
            pose0 = T_wc[0]
            graph.add(gtsam.PriorFactorPose3(X_(0), gtsam.Pose3(pose0), prior))
        else:  # the front end's two-view step: the initial guess and a between factor
            step = noisy_step(inverse(T_wc[k - 1]) @ T_wc[k], rng)
            pose0 = est[k - 1] @ step
            graph.add(gtsam.BetweenFactorPose3(X_(k - 1), X_(k), gtsam.Pose3(step), odo))
        if k == 1:
            graph.add(gtsam.RangeFactorPose3(X_(0), X_(1), float(np.linalg.norm(T_wc[1, :3, 3])), rng_noise))
        values.insert(X_(k), gtsam.Pose3(pose0))
        stamps[X_(k)] = float(k)
        alive = []
        for tr in tracks:
            uv, inside, _ = observe(T_cw[k], tr["X"], rng, STREAM_OUTLIER_PX)
            if not inside or tr["left"] == 0:
                continue
            tr["left"] -= 1
            tr["obs"].append((k, uv))
            if not tr["added"]:
                # the point enters with its third observation once its rays are 1 deg apart
                # (points near the epipole of a forward drive have no depth otherwise)
                a, b = tr["X"] - T_wc[tr["first"], :3, 3], tr["X"] - T_wc[k, :3, 3]
                cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
                if len(tr["obs"]) < 3 or np.degrees(np.arccos(min(cos, 1.0))) < 1.0:
                    alive.append(tr)
                    continue
                values.insert(P_(tr["id"]), tr["X0"])
                if POINT_PRIOR_M > 0:
                    graph.add(gtsam.PriorFactorPoint3(P_(tr["id"]), tr["X0"], point_prior))
                tr["added"] = True
            for kk, uvv in tr["obs"]:
                graph.add(gtsam.GenericProjectionFactorCal3_S2(uvv, pix, X_(kk), P_(tr["id"]), K))
            tr["obs"] = []
            stamps[P_(tr["id"])] = float(k)
            alive.append(tr)
        tracks = alive
        for Xw in spawn_points(T_wc[k], 50, rng):
            uv, inside, _ = observe(T_cw[k], Xw, rng, STREAM_OUTLIER_PX)
            if inside:
                tracks.append({"id": next_pt, "X": Xw, "X0": init_point(pose0, uv, Xw, T_cw[k], rng),
                               "obs": [(k, uv)], "left": int(rng.integers(2, 5)), "added": False, "first": k})
                next_pt += 1
        t1 = time.perf_counter()
        try:
            smoother.update(graph, values, stamps)
            est[k] = smoother.calculateEstimatePose3(X_(k)).matrix()
        except Exception as e:  # noqa: BLE001 - report whatever the library throws
            return {"kind": kind, "failed_at": k, "error": f"{type(e).__name__}: {e}"[:300],
                    "times": times, "upd": upd_times}
        t2 = time.perf_counter()
        times.append(t2 - t0)
        upd_times.append(t2 - t1)
        n_factors.append(graph.size())
    path = float(np.sum(np.linalg.norm(np.diff(T_wc[:, :3, 3], axis=0), axis=-1)))
    last = n_kf - 1
    err = float(np.linalg.norm(est[last][:3, 3] - T_wc[last, :3, 3]))
    rot = float(np.rad2deg(rotation_angle(est[last][:3, :3].T @ T_wc[last, :3, :3])))
    return {"kind": kind, "times": times, "upd": upd_times, "path_m": path, "end_err_m": err,
            "end_rot_deg": rot, "new_factors": float(np.mean(n_factors))}


def fixed_lag_table(n_kf: int, seed: int) -> None:
    print(f"## GTSAM fixed-lag smoothers: {n_kf} keyframes, lag = 7 keyframes\n")
    if gtsam is None:
        print("gtsam is not installed: skipped (pip install gtsam==4.3.0)\n")
        return
    print("| smoother | first ms | median ms | last-50 median ms | worst ms | update-only median ms "
          "| new factors / kf | end centre error (% of path) | end rot err deg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in ("batch", "incremental"):
        p = subprocess.run([sys.executable, __file__, "--_worker", kind, "--keyframes", str(n_kf),
                            "--seed", str(seed), "--kernel", KERNEL, "--max-iters", str(MAX_ITERS),
                            "--stream-outliers", ",".join(map(str, STREAM_OUTLIER_PX)),
                            "--point-prior", str(POINT_PRIOR_M)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"| {kind} | crashed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        ms = 1e3 * np.array(r["times"])
        if "failed_at" in r:
            err = " ".join(r["error"].split())[:160]
            print(f"| {kind} | failed at keyframe {r['failed_at']}: {err} |")
            continue
        print(f"| {kind} | {ms[0]:.1f} | {np.median(ms):.1f} | {np.median(ms[-50:]):.1f} | {ms.max():.1f} "
              f"| {1e3 * np.median(r['upd']):.1f} | {r['new_factors']:.0f} "
              f"| {r['end_err_m']:.3f} m ({100 * r['end_err_m'] / r['path_m']:.2f} %) | {r['end_rot_deg']:.3f} |")
        deciles = [np.median(c) for c in np.array_split(ms, 10)]
        print(f"|  ↳ median per tenth of the run | " + " / ".join(f"{d:.0f}" for d in deciles) + " | | | | | | |")
        sys.stdout.flush()
    print()


# ----------------------------------------------------------------------------- part 3
def gil_share(fn) -> float:
    """Counting rate of the main thread while ``fn`` runs in another thread, over its rate
    while that thread sleeps as long."""

    def rate(target) -> float:
        th = threading.Thread(target=target)
        n = 0
        th.start()
        t0 = time.perf_counter()
        while th.is_alive():
            n += 1
        return n / max(time.perf_counter() - t0, 1e-9)

    t0 = time.perf_counter()
    fn()
    dur = time.perf_counter() - t0
    busy = rate(fn)
    idle = rate(lambda: time.sleep(dur))
    return busy / idle


def linearise_table(seed: int, repeats: int = 5) -> None:
    """One evaluation of residuals and Jacobians of the N = 600 window, per observation."""
    print("## One linearisation of the window (N = 600), per observation\n")
    print("| what | ms | us per observation |")
    print("|---|---|---|")
    win = make_window(600, seed)
    m = len(win.obs_kf)

    def med(fn) -> float:
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))

    if gtsam is not None:
        X_, P_ = gtsam.symbol_shorthand.X, gtsam.symbol_shorthand.L
        K = gtsam.Cal3_S2(FX, FY, 0.0, CX, CY)
        pix, _, _ = _gtsam_noises()
        graph, values = gtsam.NonlinearFactorGraph(), gtsam.Values()
        for k in range(N_WINDOW):
            values.insert(X_(k), gtsam.Pose3(win.T_wc_init[k]))
        for j in range(len(win.X_init)):
            values.insert(P_(j), win.X_init[j])
        for k, j, uv in zip(win.obs_kf.tolist(), win.obs_pt.tolist(), win.obs_uv):
            graph.add(gtsam.GenericProjectionFactorCal3_S2(uv, pix, X_(k), P_(j), K))
        dt = med(lambda: graph.linearize(values))
        print(f"| gtsam: graph.linearize (C++ factors) | {1e3 * dt:.1f} | {1e6 * dt / m:.1f} |")
    if pyceres is not None:
        for label, noop in (("ceres: evaluate_jacobian, Python reprojection cost", False),
                            ("ceres: evaluate_jacobian, Python cost that only writes zeros", True)):
            prob, keep, *_ = build_ceres(win, per_track=False, noop=noop)
            dt = med(lambda: prob.evaluate_jacobian())
            print(f"| {label} | {1e3 * dt:.1f} | {1e6 * dt / m:.1f} |")
    print()


def gil_table(seed: int) -> None:
    print("## Does the solve release the GIL? (N = 600)\n")
    print("| solver | count rate beside the solve / beside a sleep |")
    print("|---|---|")
    win = make_window(600, seed)
    if gtsam is not None:
        print(f"| gtsam LM | {gil_share(lambda: solve_gtsam(win)):.2f} |")
    if pyceres is not None:
        print(f"| ceres/obs | {gil_share(lambda: solve_ceres(win, False)):.2f} |")
    print("\n(the solve functions include building the problem in Python, which holds the GIL)\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", default="300,600,1500")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keyframes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kernel", choices=("huber", "cauchy"), default="huber")
    ap.add_argument("--max-iters", type=int, default=10, help="LM iterations at most (window and batch smoother)")
    ap.add_argument("--stream-outliers", default="3,10", help="outlier offsets (px) of the fixed-lag stream")
    ap.add_argument("--point-prior", type=float, default=0.0, help="fixed-lag stream: weak prior (m) on new points")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: window,lag,gil")
    ap.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    global KERNEL, MAX_ITERS, STREAM_OUTLIER_PX, POINT_PRIOR_M
    POINT_PRIOR_M = a.point_prior
    KERNEL, MAX_ITERS = a.kernel, a.max_iters
    STREAM_OUTLIER_PX = tuple(float(x) for x in a.stream_outliers.split(","))
    if a._worker:
        print(json.dumps(fixed_lag_worker(a._worker, a.keyframes, a.seed)))
        return
    if gtsam is None:
        print("gtsam is not installed: its rows are skipped (pip install gtsam==4.3.0)")
    if pyceres is None:
        print("pyceres is not installed: its rows are skipped (pip install pyceres)")
    skip = set(filter(None, a.skip.split(",")))
    if "window" not in skip:
        window_table([int(x) for x in a.points.split(",")], a.repeats, a.seed)
    if "lag" not in skip:
        fixed_lag_table(a.keyframes, a.seed)
    if "gil" not in skip:
        linearise_table(a.seed)
        gil_table(a.seed)


if __name__ == "__main__":
    main()
