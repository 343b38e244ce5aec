"""Steps 3-7 of a ``vo-run`` pair: :func:`vo_app.geometry.two_view` with the run's configuration.

The geometry (``geometry/two_view.py``) owns the steps; this module maps :class:`VOConfig` onto
its :class:`~vo_app.geometry.two_view.TwoViewParams`.
"""
from __future__ import annotations

import numpy as np

from ..geometry.two_view import (DEGENERATE, NO_MOTION, PURE_ROTATION, TOO_FEW_INLIERS, PairResult,  # noqa: F401
                                 TwoViewParams, two_view)
from .config import VOConfig


def two_view_params(cfg: VOConfig) -> TwoViewParams:
    """The :class:`TwoViewParams` of a run configuration."""
    return TwoViewParams(n_matches=cfg.n_matches, top_ratio=cfg.top_ratio, ransac_threshold=cfg.ransac_threshold,
                         ransac_confidence=cfg.ransac_confidence, ransac_max_iters=cfg.ransac_max_iters,
                         refine=cfg.refine, refine_band=cfg.refine_band, refine_huber=cfg.refine_huber,
                         epi_threshold=cfg.epi_threshold, min_inliers=cfg.min_inliers,
                         min_inlier_share=cfg.min_inlier_share, no_motion_px=cfg.no_motion_px,
                         rotation_parallax_px=cfg.rotation_parallax_px, backend=cfg.backend)


def estimate_pairs(flows_fwd, flows_bwd, K: np.ndarray, cfg: VOConfig, seeds, device: str = "cpu") -> list[PairResult]:
    """Steps 3-7 for ``B`` pairs of ``[H,W,2]`` flows (:func:`vo_app.geometry.two_view`)."""
    return two_view(flows_fwd, flows_bwd, K, seeds, two_view_params(cfg), device)


def estimate_pair(flow_fwd: np.ndarray, flow_bwd: np.ndarray, K: np.ndarray, cfg: VOConfig, seed: int,
                  device: str = "cpu") -> PairResult:
    """:func:`estimate_pairs` for one pair (``[H,W,2]`` flows frame 1 -> 2 and 2 -> 1)."""
    return estimate_pairs([flow_fwd], [flow_bwd], K, cfg, [seed], device)[0]
