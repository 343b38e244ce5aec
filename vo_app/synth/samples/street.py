"""Pairs from the project's street renderer (:mod:`vo_app.synth`): exact flow from depth and poses."""
from __future__ import annotations

import numpy as np

from ...synth import compute_flow, default_intrinsics, make_scene, make_trajectory, render_frame
from .scene_cache import LRU

#: (scene kind, trajectory length in frames, street length in metres, largest frame gap)
_KINDS = (("forward", 70, 80.0, 2), ("handheld", 100, 40.0, 4), ("rotation", 100, 40.0, 3))
_SCENES = LRU(32)


def _scene(seed: int, k: int):
    """Scene and trajectory number ``seed`` of kind ``_KINDS[k]``, cached (LRU) per process."""
    kind, n, length, _ = _KINDS[k]
    return _SCENES.get((seed, k), lambda: (make_scene(seed, kind, length=length),
                                           make_trajectory(kind, n, seed=seed)[0]))


def render_street(rng: np.random.Generator, width: int, height: int, scene_seeds: list[int]) -> dict:
    """One random pair from one of ``scene_seeds`` (same keys and shapes as :func:`render_layers`).

    A random scene, motion kind, start frame, frame gap (1..4), playback direction and focal
    length (0.45..0.9 of the width).
    """
    seed = int(scene_seeds[int(rng.integers(0, len(scene_seeds)))])
    k = int(seed % len(_KINDS))
    scene, poses = _scene(seed, k)
    gap = int(rng.integers(1, _KINDS[k][3] + 1))
    t = int(rng.integers(0, len(poses) - gap))
    i, j = (t, t + gap) if rng.random() < 0.7 else (t + gap, t)
    intr = default_intrinsics(int(width), int(height), float(rng.uniform(0.45, 0.9)))
    rgb1, d1 = render_frame(scene, intr, poses[i])
    rgb2, d2 = render_frame(scene, intr, poses[j])
    flow, valid = compute_flow(d1, poses[i], poses[j], intr, d2)
    return {"img1": rgb1.astype(np.float32), "img2": rgb2.astype(np.float32), "flow": flow,
            "noc": valid.astype(np.float32)}
