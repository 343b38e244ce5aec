"""The scale level of each chain segment, set at the end of a run from all its absolute step lengths.

The window holds its two oldest keyframes, so a keyframe leaves it with the scale of the last
``size`` keyframes' absolute factors.  Where the chain holds its ratios that is enough; where it
breaks (a stop, a fallback pair, a released reference: no chain ratio into the keyframe), the
window's step length rests on the few absolute factors of the moment, and at a restart after a
stop those are the poorest (road points over a few centimetres of motion).  The level set there
is then carried by the chain's precise ratios for the whole segment that follows, and the window
cannot undo it once the keyframes have left (the rendered stop-and-go drive: 1.35-2.3x too long
for hundreds of frames, docs/backend.md).

So at the end of a run the keyframe steps are cut into *segments* at every step without a chain
ratio; the window's step lengths inside a segment are kept relative to each other, and each
segment gets one log-scale level ``s_m`` (one GTSAM ``Double`` variable):

- every absolute step length ``value`` of a step ``j`` in segment ``m`` (the same measurements that
  entered the window) is a factor ``s_m = log(value) - log(w_j)`` on the window's length ``w_j``,
  with the measurement's log-std and a Huber kernel;
- consecutive segments are tied by ``s_m - s_{m-1} = 0`` with ``break_sigma`` (a break leaves the
  level loosely continuous: a segment without any measurement takes its neighbours' level).

On a run without breaks this is one level for the whole run, which a Sim(3) alignment does not
see; it changes the trajectory only where the chain broke.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .params import StepMeasurement


@dataclass
class Step:
    """A keyframe step as the window left it: ``length`` (window units), ``linked`` (a chain ratio tied it
    to the previous step), and its absolute ``steps`` (:class:`StepMeasurement`)."""

    length: float
    linked: bool
    steps: list[StepMeasurement] = field(default_factory=list)


def segment_ids(steps: list[Step]) -> np.ndarray:
    """``[S]`` the segment of each step: a new one starts at every step that is not ``linked``."""
    ids, m = np.zeros(len(steps), np.int64), 0
    for j, s in enumerate(steps):
        if j > 0 and not s.linked:
            m += 1
        ids[j] = m
    return ids


def segment_levels(steps: list[Step], break_sigma: float, huber_k: float) -> tuple[np.ndarray, dict] | None:
    """``(factor [S], record)``: each step's length factor (``exp(s_m)`` of its segment) and a record for
    ``report.json``; None where no step has an absolute measurement (nothing sets a level)."""
    import gtsam  # where it solves only: the run's process imports GTSAM at the end of a window run

    ids = segment_ids(steps)
    n_seg = int(ids[-1]) + 1 if len(ids) else 0
    graph, values = gtsam.NonlinearFactorGraph(), gtsam.Values()
    n_meas, n_seg_meas = 0, np.zeros(n_seg, np.int64)
    for j, s in enumerate(steps):
        if not (math.isfinite(s.length) and s.length > 0):
            continue
        for m in s.steps:
            noise = gtsam.noiseModel.Robust.Create(gtsam.noiseModel.mEstimator.Huber.Create(huber_k),
                                                   gtsam.noiseModel.Isotropic.Sigma(1, m.log_sigma))
            graph.add(gtsam.PriorFactorDouble(int(ids[j]), math.log(m.value) - math.log(s.length), noise))
            n_meas += 1
            n_seg_meas[ids[j]] += 1
    if n_meas == 0:
        return None
    tie = gtsam.noiseModel.Isotropic.Sigma(1, break_sigma)
    for m in range(n_seg):
        values.insert(m, 0.0)
        if m > 0:
            graph.add(gtsam.BetweenFactorDouble(m - 1, m, 0.0, tie))
    result = gtsam.LevenbergMarquardtOptimizer(graph, values).optimize()
    levels = np.array([result.atDouble(m) for m in range(n_seg)])
    if not np.isfinite(levels).all():
        return None
    record = {"segments": n_seg, "measurements": n_meas, "break_sigma": break_sigma,
              "factor_min": round(float(np.exp(levels.min())), 4), "factor_max": round(float(np.exp(levels.max())), 4),
              "without_measurement": int((n_seg_meas == 0).sum())}
    return np.exp(levels[ids]), record
