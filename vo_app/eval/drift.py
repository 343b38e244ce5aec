"""Scale drift: the length of the estimated steps against the ground truth's, over a run.

For each consecutive-frame step k (frame k -> k+1) the ratio ``r_k = |c_est,k+1 - c_est,k| /
|c_gt,k+1 - c_gt,k|`` of camera-centre displacements (equal to the norms of the relative
translations) is divided by the median ratio of the first :data:`REF_STEPS` moving steps, so
the run starts at 1: a monocular estimate's arbitrary scale and any alignment (which scales
every step alike) drop out, and ``r = 0.9`` means the steps have become 10 % too short
relative to the start.  Steps whose ground-truth length is below ``max(MIN_STEP_REL x the
median step, MIN_STEP_M)`` are skipped as stationary (their ratio is noise over almost
nothing).  A step in which the estimate does not move at all while the ground truth does is
a held pose (``vo-run``'s ``no_motion`` fallback keeps the pose and matches the next frame
against the same reference): its ground-truth length is added to the next step in which the
estimate moves, which covers both.  The ratios are smoothed by a running median over
:data:`WINDOW` of them (centred; shorter at the ends) before the end value and the worst
deviation ``r - 1`` (largest in size, with its sign) are read off.

Each scored step also records the ground-truth length it was scored against (held steps
included), and ``by_step_length`` counts the steps outside ``1 +- BAND`` per class of that length
(:data:`STEP_CLASSES_M`): on a drive with stops, restarts of a few centimetres per frame are a
fraction of a pixel of parallax and may fail where the cruising steps hold
(``benchmarks/stopgo_drift.py``).

``from_frame`` starts the measure later: steps that end at or before that frame are not scored
and the start (= 1) is the first :data:`REF_STEPS` moving steps after it.  It is for ground truth
whose first stretch is not measured; ``benchmarks/kitti_gt_check.py`` shows such a stretch (KITTI
00, frames 0-14: constant velocity while the heading turns), see docs/scale.md, "KITTI's first frames".
"""
from __future__ import annotations

import numpy as np

#: moving steps whose median ratio is the start (= 1).
REF_STEPS = 10
#: running-median window (moving steps).
WINDOW = 5
#: a step is stationary when its ground-truth length is under this fraction of the median step ...
MIN_STEP_REL = 0.05
#: ... or under this many metres.
MIN_STEP_M = 1e-3
#: the band drawn around 1 in the plot (and a handy threshold for "no drift").
BAND = 0.05
#: edges (metres) of the ground-truth step-length classes of ``by_step_length``.
STEP_CLASSES_M = (0.05, 0.1, 0.3)


def running_median(x: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Centred running median of ``x [M]`` over ``window`` samples, the window cut at both ends."""
    x = np.asarray(x, np.float64)
    h = max(int(window), 1) // 2
    return np.array([np.median(x[max(0, k - h):k + h + 1]) for k in range(len(x))])


def _normalisation_text(threshold: float, from_frame: int = 0) -> str:
    after = f" after frame {from_frame} (earlier steps not scored)" if from_frame else ""
    return (f"|est step| / |GT step| per consecutive-frame step, divided by the median of the first {REF_STEPS} "
            f"moving steps{after} (start = 1; independent of the alignment); GT steps under {threshold:.4g} m "
            f"(max({MIN_STEP_REL:g} x median step, {MIN_STEP_M:g} m)) skipped as stationary; GT length of steps "
            f"where the estimate holds its pose added to its next step; running median over {WINDOW} steps")


def scale_drift(gt_xyz: np.ndarray, est_xyz: np.ndarray, from_frame: int = 0) -> dict:
    """Scale drift of camera centres ``est_xyz [N,3]`` against ``gt_xyz [N,3]`` (row i matches row i),
    scored on the steps that end after frame ``from_frame`` (0: all).

    Returns a JSON-ready dict: ``end`` (the smoothed ratio at the last moving step; 1 = no
    drift), ``worst`` (the smoothed ``r - 1`` of largest size, signed), ``worst_frame`` (the
    frame that step ends at), ``start_ratio`` (the un-normalised ratio at the start),
    ``threshold_m``, ``n_moving`` (steps with a ratio), ``n_skipped`` (the others: stationary
    or held), ``n_held`` (held steps), ``normalisation`` (how, in words), ``per_step`` and
    ``per_step_raw`` (``[N-1]`` smoothed and raw normalised ratios, ``None`` for skipped steps).
    ``end``, ``worst``, ``worst_frame`` and ``start_ratio`` are ``None`` when no step has a
    ratio (the ground truth or the estimate never moves).  ``from_frame`` is recorded too.
    """
    gt_xyz, est_xyz = np.asarray(gt_xyz, np.float64), np.asarray(est_xyz, np.float64)
    if gt_xyz.shape != est_xyz.shape or gt_xyz.ndim != 2 or gt_xyz.shape[1] != 3:
        raise ValueError(f"scale_drift: expected two [N,3] arrays of equal shape, got {gt_xyz.shape} and "
                         f"{est_xyz.shape}")
    from_frame = int(from_frame)
    if not 0 <= from_frame < max(len(gt_xyz) - 1, 1):
        raise ValueError(f"scale_drift: from_frame {from_frame} is outside 0..{len(gt_xyz) - 2} "
                         f"(the run has {len(gt_xyz)} poses)")
    g = np.linalg.norm(np.diff(gt_xyz, axis=0), axis=1)
    e = np.linalg.norm(np.diff(est_xyz, axis=0), axis=1)
    pos = g[g > 0]
    threshold = max(MIN_STEP_M, MIN_STEP_REL * float(np.median(pos))) if len(pos) else MIN_STEP_M
    e_pos = e[e > 0]
    held_below = 1e-9 * float(np.median(e_pos)) if len(e_pos) else 0.0  # rounding noise of a repeated pose
    idx, raw, lengths, gt_len, n_held = [], [], [], 0.0, 0
    for k in range(from_frame, len(g)):
        if not np.isfinite(e[k]):
            gt_len = 0.0
            continue
        gt_len += g[k]
        if e[k] <= held_below:
            n_held += bool(g[k] >= threshold)  # the ground truth moves on: the estimate holds its pose
            continue
        if gt_len >= threshold:  # else: the ground truth stands still (the estimate jitters)
            idx.append(k)
            raw.append(e[k] / gt_len)
            lengths.append(gt_len)
        gt_len = 0.0
    idx, raw = np.asarray(idx, np.int64), np.asarray(raw, np.float64)
    ref = float(np.median(raw[:REF_STEPS])) if len(raw) else 0.0
    out = {"end": None, "worst": None, "worst_frame": None, "start_ratio": None, "threshold_m": threshold,
           "from_frame": from_frame, "n_moving": int(len(idx)),
           "n_skipped": int(len(g) - from_frame - len(idx)), "n_held": int(n_held),
           "normalisation": _normalisation_text(threshold, from_frame), "per_step": [None] * len(g),
           "per_step_raw": [None] * len(g), "by_step_length": []}
    if not (ref > 0 and np.isfinite(ref)):
        why = "the estimate does not move" if n_held else "no moving steps"
        out["normalisation"] += f" (undefined: {why})"
        return out
    r = raw / ref
    smooth = running_median(r, WINDOW)
    dev = smooth - 1.0
    size = np.abs(dev)
    w = int(np.argmax(size >= size.max() - 1e-12))  # the first of equals (rounding noise aside)
    out.update(end=float(smooth[-1]), worst=float(dev[w]), worst_frame=int(idx[w] + 1), start_ratio=ref,
               by_step_length=by_step_length(np.asarray(lengths), dev))
    for k, s, v in zip(idx.tolist(), smooth.tolist(), r.tolist()):
        out["per_step"][k] = round(s, 6)
        out["per_step_raw"][k] = round(v, 6)
    return out


def by_step_length(lengths: np.ndarray, deviation: np.ndarray, edges=STEP_CLASSES_M, band: float = BAND) -> list:
    """Per class ``[lo, hi)`` of the ground-truth step length (``edges`` in metres, a last class up to
    infinity): ``{"min_m", "max_m" (None: no bound), "steps", "outside"`` (``|deviation| > band``),
    ``"worst"`` (the signed deviation of largest size, None without steps)}``, from ``lengths [M]`` and
    ``deviation [M]`` (smoothed ``r - 1``) of the scored steps."""
    lengths, deviation = np.asarray(lengths, np.float64), np.asarray(deviation, np.float64)
    bounds = [0.0, *[float(v) for v in edges], np.inf]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        m = (lengths >= lo) & (lengths < hi)
        dev = deviation[m]
        worst = float(dev[np.argmax(np.abs(dev))]) if len(dev) else None
        out.append({"min_m": lo, "max_m": None if np.isinf(hi) else hi, "steps": int(m.sum()),
                    "outside": int(np.sum(np.abs(dev) > band)), "worst": worst})
    return out


def drift_series(drift: dict) -> dict:
    """Arrays for the plot: ``frame`` ``[N-1]`` (the frame each step ends at), ``ratio`` and ``raw`` ``[N-1]``
    (NaN for skipped steps)."""
    nan = float("nan")
    return {"frame": np.arange(1, len(drift["per_step"]) + 1),
            "ratio": np.array([nan if v is None else v for v in drift["per_step"]], np.float64),
            "raw": np.array([nan if v is None else v for v in drift["per_step_raw"]], np.float64)}
