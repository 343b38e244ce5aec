"""The window's two pose updates that happen outside a solve, shared by the window and its process proxy."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def guess_pose(ref_pose: np.ndarray, T_rel: np.ndarray) -> np.ndarray:
    """A new keyframe's first pose ``T_wc [4,4]``: its reference's ``T_wc [4,4]`` and the front end's motion
    ``T_rel [4,4]`` (reference camera -> new camera)."""
    return np.asarray(ref_pose, float) @ np.linalg.inv(np.asarray(T_rel, float))


def scale_positions(poses: Iterable[np.ndarray], factor: float) -> list[np.ndarray]:
    """Every pose's position ``[4,4]`` times ``factor`` about the world origin, in place; returns them."""
    poses = list(poses)
    for T in poses:
        T[:3, 3] *= factor
    return poses
