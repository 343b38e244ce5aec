"""The window's settings and its absolute measurements: plain data, without GTSAM, so that the run's
process needs GTSAM only where it solves a window itself (``remote.py``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WindowParams:
    """Settings of the window (``VOConfig.window``, ``window_tracks``, ``window_iterations``; the others are
    fixed here; docs/backend.md has the measurements)."""

    size: int = 7  # keyframes in the window
    max_tracks: int = 150  # tracks per solve, spread over a grid of the image
    min_obs: int = 3  # observations a track needs to enter (all of them in a smaller window)
    pixel_sigma: float = 0.5  # px, of a track observation
    min_parallax_deg: float = 1.0  # between a track's first and last observation, at the current poses
    pixel_huber: float = 1.345  # Huber threshold of the reprojection factors, in sigmas
    outlier_px: float = 1.5  # 3 pixel sigmas: a track whose point misses an observation by more stays out of the solve
    rot_sigma_deg: float = 0.05  # of the two-view relative rotation
    dir_sigma_deg: float = 1.0  # of the two-view translation direction
    along_sigma: float = 1.0  # of the step's length in the relative prior (a fraction: nearly free)
    scale_huber: float = 1.345  # Huber threshold of the absolute step-length factors, in sigmas
    ratio_huber: float = 1.345  # Huber threshold of the chain's step-length ratio factors, in sigmas
    iterations: int = 5  # Levenberg-Marquardt iterations per solve, at most
    relative_tol: float = 1e-2  # LM stops once an iteration lowers the cost by less than this fraction (GTSAM: 1e-5)
    track_stride: int = 8  # keep every n-th track id (TrackStore)


@dataclass
class StepMeasurement:
    """An absolute length of the step into a keyframe: ``value`` in metres, ``log_sigma`` its log-std."""

    source: str
    value: float
    log_sigma: float
