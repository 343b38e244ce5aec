"""Trajectory metrics: evo-based ATE/RPE and alignment, the KITTI segment metric, scale drift, per-pair errors.

Plots live in :mod:`vo_app.eval.plots` (imported on demand: it pulls in matplotlib).  Without
evo installed, the package still imports (``vo-train`` validates with :mod:`vo_app.eval.depth`,
which needs no evo, e.g. on a GPU machine that has torch but not evo); the trajectory metrics
then raise ModuleNotFoundError when used.
"""
try:
    from .association import PosePair, load_pair, paths_from_poses
    from .ate import ate, pair_errors, path_length
    from .drift import scale_drift
    from .evaluate import evaluate_pair, json_ready
    from .kitti_metric import KITTI_LENGTHS, kitti_metric, segment_errors
    from .table import format_table
except ModuleNotFoundError as e:  # only a missing evo is tolerated here
    if (e.name or "").split(".")[0] != "evo":
        raise
    _NO_EVO = e

    def __getattr__(name: str):
        if name in __all__:
            raise ModuleNotFoundError(f"vo_app.eval.{name} needs evo (pip install evo): {_NO_EVO}", name="evo")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["ate", "path_length", "pair_errors", "PosePair", "load_pair", "paths_from_poses", "evaluate_pair",
           "json_ready", "KITTI_LENGTHS", "kitti_metric", "segment_errors", "format_table", "scale_drift"]
