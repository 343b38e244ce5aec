"""Trajectory metrics: evo-based ATE/RPE and alignment, the KITTI segment metric, scale drift, per-pair errors.

Plots live in :mod:`vo_app.eval.plots` (imported on demand: it pulls in matplotlib).
"""
from .association import PosePair, load_pair, paths_from_poses
from .ate import ate, pair_errors, path_length
from .drift import scale_drift
from .evaluate import evaluate_pair, json_ready
from .kitti_metric import KITTI_LENGTHS, kitti_metric, segment_errors
from .table import format_table

__all__ = ["ate", "path_length", "pair_errors", "PosePair", "load_pair", "paths_from_poses", "evaluate_pair",
           "json_ready", "KITTI_LENGTHS", "kitti_metric", "segment_errors", "format_table", "scale_drift"]
