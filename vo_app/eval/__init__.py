"""Trajectory metrics: evo-based ATE, per-pair relative errors."""
from .ate import ate, path_length, pair_errors

__all__ = ["ate", "path_length", "pair_errors"]
