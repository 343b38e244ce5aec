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
- :func:`length_ratio`: the chain's ratio of one step's length to the previous one's (the scale
  filter's process model, ``scale_fusion.py``): ``log |c_c - c_b| - log |c_b - c_a| - log(ratio)``
  with the ratio's log-std and a Huber kernel, on the three keyframes' centres ``c``; a Python
  :class:`gtsam.CustomFactor` with analytic Jacobians (GTSAM has no such factor).
- :func:`fixed`: a keyframe held where it is (a prior 1e-6 wide).
"""
from __future__ import annotations

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


def relative_prior(kf_ref: int, kf: int, T_rel: np.ndarray, rot_sigma: float, dir_sigma: float,
                   along_sigma: float, scale_hint: float = 1.0):
    """``T_rel [4,4]`` (its translation at the initial guess's length) between two keyframes.  A step
    without translation (a rotation-only pose: the pair could not tell its direction) gets an
    isotropic translation sigma of ``along_sigma x scale_hint`` (the last step's length) instead."""
    T_rel = np.asarray(T_rel, float)
    length = float(np.linalg.norm(T_rel[:3, 3]))
    if length > 1e-9 * scale_hint:
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


def _ratio_error(log_ratio: float):
    """The error function of :func:`length_ratio` (``CustomFactor``'s signature)."""
    def error(this, values, H):
        ka, kb, kc = this.keys()
        Ta, Tb, Tc = values.atPose3(ka), values.atPose3(kb), values.atPose3(kc)
        ca, cb, cc = Ta.translation(), Tb.translation(), Tc.translation()
        d1, d2 = cb - ca, cc - cb
        l1, l2 = float(np.sqrt(d1 @ d1)), float(np.sqrt(d2 @ d2))
        l1, l2 = max(l1, 1e-12), max(l2, 1e-12)
        if H is not None:  # d centre / d pose (GTSAM's Pose3 tangent: rotation, then body translation) = [0, R]
            g1, g2 = d1 / l1 ** 2, d2 / l2 ** 2  # d log|d| / d d
            for j, (T, g) in enumerate(((Ta, g1), (Tb, -g1 - g2), (Tc, g2))):
                J = np.zeros((1, 6))
                J[0, 3:] = g @ T.rotation().matrix()
                H[j] = J
        return np.array([np.log(l2) - np.log(l1) - log_ratio])
    return error


def length_ratio(kf_a: int, kf_b: int, kf_c: int, ratio: float, log_sigma: float, k: float):
    """The step ``kf_b -> kf_c`` is ``ratio`` times as long as ``kf_a -> kf_b`` (log-std ``log_sigma``,
    Huber beyond ``k`` sigmas)."""
    noise = huber(k, gtsam.noiseModel.Isotropic.Sigma(1, log_sigma))
    return gtsam.CustomFactor(noise, [X(kf_a), X(kf_b), X(kf_c)], _ratio_error(float(np.log(ratio))))


def fixed(kf: int, pose: np.ndarray):
    return gtsam.PriorFactorPose3(X(kf), gtsam.Pose3(np.asarray(pose, float)),
                                  gtsam.noiseModel.Isotropic.Sigma(6, FIXED_SIGMA))


def step_anchor(kf_ref: int, kf: int, value: float):
    """The window's scale where nothing absolute sets it: the first step's length held."""
    return gtsam.RangeFactorPose3(X(kf_ref), X(kf), float(value), gtsam.noiseModel.Isotropic.Sigma(1, value * 1e-6))
