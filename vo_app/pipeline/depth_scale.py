"""``--scale depth``: the translation norm from the depth network's depth of the reference frame.

Per pair, the triangulated points (unit baseline, depths in the reference camera) are aligned
to the network's metric depth at their pixels with a robust ratio (``geometry/scale.py``: the
parallax-weighted median of log-ratios after a 3-MAD cut; TrianFlow fits a RANSAC line through
the origin, the same one-parameter model).  The network runs once per reference frame; the
last two depth maps are kept (a reference serves several pairs, and the current frame is the
next reference).
"""
from __future__ import annotations

import numpy as np

from .. import geometry as geo
from .scale_chain import depth_at


class DepthScale:
    """Depth maps of the sequence's frames from a ``vo-train depth`` checkpoint, and the scale from them."""

    def __init__(self, weights: str, K: np.ndarray, size: tuple[int, int], device: str = "cpu"):
        """``weights``: a depth checkpoint (a wrong or missing file is a UserError of the loader)."""
        from ..models.depth.predictor import DepthPredictor

        self.predictor = DepthPredictor.from_checkpoint(weights, device)
        self.fx_ratio = float(K[0, 0]) / float(size[0])
        self._cache: dict[int, np.ndarray] = {}
        self.nan_frames = 0

    def depth(self, frame) -> np.ndarray:
        """Metric depth ``[H,W]`` of ``frame`` at the working size (cached)."""
        d = self._cache.get(frame.index)
        if d is None:
            d = self.predictor.predict([frame.image], self.fx_ratio)[0]
            self._cache[frame.index] = d
            while len(self._cache) > 2:
                self._cache.pop(min(self._cache))
        return d

    def scale(self, frame, p1: np.ndarray, tri_depth: np.ndarray, weights: np.ndarray | None,
              min_points: int) -> tuple[float, int, str]:
        """Norm of the unit translation of a pair whose reference is ``frame``: ``(scale, n_used, note)``.

        NaN with a note when the network's depth is not finite at the points (the caller falls
        back to the chain) or too few points remain.
        """
        d = depth_at(self.depth(frame), p1)
        if not np.isfinite(d).all():
            self.nan_frames += 1
            return float("nan"), 0, "depth network output is not finite"
        s, n = geo.robust_ratio(d, tri_depth, min_points, weights=weights)
        return s, n, f"depth ({n} points)"
