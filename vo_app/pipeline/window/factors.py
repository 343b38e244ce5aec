"""The window's factors, one builder per measurement, each with its noise model stated.

Poses are GTSAM ``Pose3`` of camera-to-world (``T_wc``, the trajectory's convention); a pair's
relative motion ``T_rel`` maps reference-camera points into the current camera
(``X_2 = R X_1 + t``, ``PairResult``), so the pose of the current frame in the reference's frame
is ``inv(T_rel)``.

- :func:`projections`: a track's pixel in each keyframe that sees it; isotropic
  ``pixel_sigma`` px with a Huber kernel (:func:`pixel_noise`), so that a track that slid off
  its point loses its pull.  The track's point (``L(id)``) is a variable, started from the
  mid-point of its rays or from the previous solve (``window.py``).
- :func:`relative_prior`: the two-view rotation and translation *direction* between consecutive
  keyframes; a 6x6 covariance: ``rot_sigma`` (rad) on each rotation axis, ``dir_sigma`` (rad,
  times the step length) across the direction and ``along_sigma`` (a fraction of the step
  length) along it, so the factor leaves the step's length to the other factors.
- :func:`step_length`: an absolute measurement of the step's length (the ground plane, aligned
  depth); Gaussian in the length with ``sigma = value * log_sigma`` (the log-std of the
  source) and a Huber kernel, so one bad plane fit is down-weighted, not obeyed.
- :func:`length_ratios`: the chain's ratio of each step's length to the previous one's (the scale
  chain's own measure of the relative scale, ``scale_chain.py``): ``log |c_c - c_b| - log |c_b - c_a| - log(ratio)``
  with the ratio's log-std and a Huber kernel, on the three keyframes' centres ``c``; one Python
  :class:`gtsam.CustomFactor` with analytic Jacobians for all of a window's ratios (GTSAM has no
  such factor).
- :func:`fixed`: a keyframe held where it is (a prior 1e-6 wide).
"""
from __future__ import annotations

import math

import gtsam
import numpy as np

X = gtsam.symbol_shorthand.X  # keyframe poses
L = gtsam.symbol_shorthand.L  # track points

FIXED_SIGMA = 1e-6


def calibration(K: np.ndarray) -> gtsam.Cal3_S2:
    return gtsam.Cal3_S2(float(K[0, 0]), float(K[1, 1]), float(K[0, 1]), float(K[0, 2]), float(K[1, 2]))


def huber(k: float, base) -> gtsam.noiseModel.Robust:
    return gtsam.noiseModel.Robust.Create(gtsam.noiseModel.mEstimator.Huber.Create(k), base)


def projection(track: int, px: np.ndarray, kf: int, cal: gtsam.Cal3_S2, noise):
    """The projection factor of ``track``'s observation ``px [2]`` in keyframe ``kf``; ``noise``: :func:`pixel_noise`."""
    return gtsam.GenericProjectionFactorCal3_S2(px, noise, X(kf), L(track), cal)


def pixel_noise(pixel_sigma: float, k: float):
    """Isotropic ``pixel_sigma`` px per observation, Huber beyond ``k`` sigmas."""
    return huber(k, gtsam.noiseModel.Isotropic.Sigma(2, pixel_sigma))


def rotation_only(T_rel: np.ndarray, scale_hint: float = 1.0) -> bool:
    """Whether ``T_rel [4,4]`` has no translation to speak of (below ``1e-9 x scale_hint``): its prior then
    depends on ``scale_hint`` (:func:`relative_prior`)."""
    return not float(np.linalg.norm(T_rel[:3, 3])) > 1e-9 * scale_hint


def relative_prior(kf_ref: int, kf: int, T_rel: np.ndarray, rot_sigma: float, dir_sigma: float,
                   along_sigma: float, scale_hint: float = 1.0):
    """``T_rel [4,4]`` (its translation at the initial guess's length) between two keyframes.  A step
    without translation (a rotation-only pose: the pair could not tell its direction) gets an
    isotropic translation sigma of ``along_sigma x scale_hint`` (the last step's length) instead."""
    T_rel = np.asarray(T_rel, float)
    length = float(np.linalg.norm(T_rel[:3, 3]))
    if not rotation_only(T_rel, scale_hint):
        # the between error's translation is in the current camera's frame, where the step is along -t
        P = np.outer(T_rel[:3, 3], T_rel[:3, 3]) / length ** 2
        cov_t = (length * dir_sigma) ** 2 * (np.eye(3) - P) + (length * along_sigma) ** 2 * P
    else:
        cov_t = np.eye(3) * (scale_hint * along_sigma) ** 2
    cov = np.zeros((6, 6))
    cov[:3, :3] = np.eye(3) * rot_sigma ** 2
    cov[3:, 3:] = cov_t
    meas = gtsam.Pose3(np.linalg.inv(T_rel))
    return gtsam.BetweenFactorPose3(X(kf_ref), X(kf), meas, gtsam.noiseModel.Gaussian.Covariance(cov))


def step_length(kf_ref: int, kf: int, value: float, log_sigma: float, k: float):
    noise = huber(k, gtsam.noiseModel.Isotropic.Sigma(1, value * log_sigma))
    return gtsam.RangeFactorPose3(X(kf_ref), X(kf), float(value), noise)


def _huber_root(u: float, k: float) -> tuple[float, float]:
    """``(r, dr/du)`` with ``r^2 / 2`` = Huber's cost of the whitened error ``u`` (threshold ``k``)."""
    if abs(u) <= k:
        return u, 1.0
    r = math.copysign(math.sqrt(2.0 * (k * abs(u) - 0.5 * k * k)), u)
    return r, k / abs(r)


def length_ratios(ratios: list[tuple[int, int, int, float, float]], k: float):
    """All of a window's step-length ratios in one factor: each ``(kf_a, kf_b, kf_c, ratio, log_sigma)`` says
    the step ``kf_b -> kf_c`` is ``ratio`` times as long as ``kf_a -> kf_b``, with log-std ``log_sigma`` and
    Huber's cost beyond ``k`` sigmas (each row's error is the root of its Huber cost, so the rows keep
    their own kernels under one unit noise model).  One Python callback per evaluation for the whole
    window: with a busy flow thread in the process, each callback waits for the GIL (five single-ratio
    factors made a solve 24.5 instead of 14.0 ms beside a busy thread, 10.8 against 9.1 ms alone)."""
    keys = sorted({kf for r in ratios for kf in r[:3]})
    symbols = [X(kf) for kf in keys]
    col = {kf: j for j, kf in enumerate(keys)}
    rows = [(col[a], col[b], col[c], math.log(ratio), sigma) for a, b, c, ratio, sigma in ratios]

    def error(this, values, H):  # at every error and linearisation of LM: each pose read once
        T = [values.atPose3(s) for s in symbols]
        c = [t.translation() for t in T]
        out = np.zeros(len(rows))
        R = None if H is None else [t.rotation().matrix() for t in T]
        J = None if H is None else [np.zeros((len(rows), 6)) for _ in keys]
        for n, (a, b, cc, log_ratio, sigma) in enumerate(rows):
            d1, d2 = c[b] - c[a], c[cc] - c[b]
            l1, l2 = max(float(np.sqrt(d1 @ d1)), 1e-12), max(float(np.sqrt(d2 @ d2)), 1e-12)
            out[n], slope = _huber_root((math.log(l2) - math.log(l1) - log_ratio) / sigma, k)
            if J is not None:  # d centre / d pose (Pose3's tangent: rotation, then body translation) = [0, R]
                g1, g2 = d1 / l1 ** 2, d2 / l2 ** 2  # d log|d| / d d
                for j, g in ((a, g1), (b, -g1 - g2), (cc, g2)):
                    J[j][n, 3:] += (slope / sigma) * (g @ R[j])
        if J is not None:
            for j in range(len(keys)):
                H[j] = J[j]
        return out

    return gtsam.CustomFactor(gtsam.noiseModel.Unit.Create(len(rows)), symbols, error)


def fixed(kf: int, pose: np.ndarray):
    return gtsam.PriorFactorPose3(X(kf), gtsam.Pose3(np.asarray(pose, float)),
                                  gtsam.noiseModel.Isotropic.Sigma(6, FIXED_SIGMA))


def step_anchor(kf_ref: int, kf: int, value: float):
    """The window's scale where nothing absolute sets it: the first step's length held."""
    return gtsam.RangeFactorPose3(X(kf_ref), X(kf), float(value), gtsam.noiseModel.Isotropic.Sigma(1, value * 1e-6))
