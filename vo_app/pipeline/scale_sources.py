"""Absolute scale sources: each measures the metric norm of one pair's unit translation.

Every source is a small class with one method, ``measure``, that returns a
:class:`ScaleMeasurement` (the norm, its log-std, a note for ``report.json`` and the source's own
details).  A source that cannot measure the pair returns a NaN norm with a note saying why.
The ground plane and the depth network enter the back end's window as step-length factors
(``pipeline/scale_modes.py``, ``backend.py``); without the window ``--scale depth``/``rgbd`` take the
norm as it is.

- :class:`GroundPlaneScale`: camera height / distance of the road plane fitted to the pair's
  dense triangulated points (``geometry/ground_plane.py``);
- :class:`DepthNetworkScale`: the depth network's depth of the reference frame aligned to the
  pair's triangulated points (``pipeline/depth_scale.py``);
- :class:`RgbdScale`: the sensor's depth image of the reference frame aligned the same way
  (``scale_chain.scale_from_rgbd``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry.ground_plane import fit_ground_plane, ground_candidates
from .scale_chain import DenseMatches, scale_from_rgbd

GROUND_MIN_PARALLAX_DEG = 0.5  # road points triangulated with less parallax are too noisy to fit the plane to
# the flow's error (px) behind the depth noise of a triangulated point, sigma(depth)/depth ~ error / (f * parallax):
# the points under GROUND_MIN_PARALLAX_DEG still veto planes they lie far below (fit_ground_plane's noise)
GROUND_FLOW_NOISE_PX = 0.25


def parallax_weights(res) -> np.ndarray:
    """Inverse-variance weights ``[M]`` (~ parallax^2) of a pair's triangulated points, for the depth alignment."""
    return np.arccos(np.clip(res.cos_parallax, -1.0, 1.0)) ** 2


@dataclass
class ScaleMeasurement:
    """One source's measurement of a pair's translation norm.

    ``norm``: metres per unit translation (NaN: no measurement); ``sigma``: its log-std (None:
    the source has none); ``note``: a line for ``report.json``; ``n_points``: points it used;
    ``info``: the source's details for the pair's ``scale_sources`` record.
    """

    norm: float
    sigma: float | None
    note: str
    n_points: int = 0
    info: dict = field(default_factory=dict)


class GroundPlaneScale:
    """Norm from the road plane: ``camera_height / plane.distance`` (``K [3,3]``, ``size (W, H)``)."""

    def __init__(self, camera_height: float, K: np.ndarray, size: tuple[int, int], sigma: float,
                 max_tilt_deg: float):
        self.camera_height, self.K, self.size = float(camera_height), K, size
        self.sigma, self.max_tilt_deg = sigma, max_tilt_deg

    def measure(self, dense: DenseMatches | None, seed: int) -> ScaleMeasurement:
        """Fit the plane to ``dense``'s triangulated road candidates (unit-baseline points, weights
        ~ parallax^2; ``seed``: the RANSAC seed, the reference frame's index)."""
        plane = None
        if dense is not None:
            pts = dense.tri.points
            sel = dense.tri.valid & dense.ok & (dense.angle > 0) & ground_candidates(dense.p, self.K, self.size)
            angle = dense.angle[sel]
            plane = fit_ground_plane(pts[sel], angle ** 2, fit=angle >= np.radians(GROUND_MIN_PARALLAX_DEG),
                                     noise=GROUND_FLOW_NOISE_PX / (self.K[0, 0] * angle),
                                     max_tilt_deg=self.max_tilt_deg, seed=seed)
        if plane is None:
            return ScaleMeasurement(float("nan"), self.sigma, "no road plane found",
                                    info={"note": "no road plane found"})
        return ScaleMeasurement(self.camera_height / plane.distance, self.sigma, "ground plane", plane.n_inliers,
                                info={"inliers": plane.n_inliers,
                                      "normal": [round(float(v), 4) for v in plane.normal]})


class DepthNetworkScale:
    """Norm from the depth network (a :class:`vo_app.pipeline.depth_scale.DepthScale`)."""

    def __init__(self, depth, sigma: float, min_points: int):
        self.depth, self.sigma, self.min_points = depth, sigma, min_points

    def measure(self, ref_frame, res) -> ScaleMeasurement:
        """Align the network's depth of ``ref_frame`` to ``res``'s triangulated points (``p1 [M,2]``,
        ``depth1 [M]`` at unit baseline), weighted by their parallax."""
        s, n, note = self.depth.scale(ref_frame, res.p1, res.depth1, parallax_weights(res), self.min_points)
        return ScaleMeasurement(s, self.sigma, note, n, info={"note": note})


class RgbdScale:
    """Norm from the sensor's depth image of the reference frame (``--scale rgbd``)."""

    def __init__(self, min_points: int):
        self.min_points = min_points

    def measure(self, ref_frame, res) -> ScaleMeasurement:
        """NaN when the reference frame has no depth image or too few points agree."""
        s, n = (np.nan, 0) if ref_frame.depth is None else scale_from_rgbd(
            ref_frame.depth, res.p1, res.depth1, self.min_points)
        return ScaleMeasurement(s, None, f"rgbd ({n} points)", n)
