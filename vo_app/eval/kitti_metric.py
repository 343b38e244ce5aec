"""The KITTI odometry segment metric: translation (%) and rotation (deg/100 m) drift.

Definition (KITTI odometry devkit, ``evaluate_odometry.cpp``), restated:

* ``d[i]`` is the distance travelled along the ground truth up to frame ``i``.
* Segments start every ``step`` frames (10 = one second at 10 Hz).  For a start
  frame ``a`` and a nominal length ``L``, the end frame ``b`` is the first frame
  with ``d[b] > d[a] + L``; a start with no such frame gives no segment.
* With ``G = inv(gt[a]) @ gt[b]`` and ``E = inv(est[a]) @ est[b]``, the error pose
  is ``inv(E) @ G``; its translation norm and rotation angle, divided by the
  nominal ``L`` (not the travelled distance), are the segment's errors.
* ``t_err`` is the mean over all segments of every length, in percent;
  ``r_err`` the mean rotation error in degrees per 100 m.

Poses are ``[N,4,4]`` camera-to-world, row ``i`` of ``est`` matching row ``i`` of
``gt``.  The metric does not align: pass an already aligned (or scaled) estimate.
"""
from __future__ import annotations

import numpy as np

#: The devkit's segment lengths (metres) and start-frame step.
KITTI_LENGTHS = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
KITTI_STEP = 10


def trajectory_distances(poses: np.ndarray) -> np.ndarray:
    """Cumulative distance ``[N]`` (metres) along the camera centres of ``poses [N,4,4]``; ``d[0] = 0``."""
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _inv(T: np.ndarray) -> np.ndarray:
    out = np.zeros_like(T)
    Rt = np.swapaxes(T[..., :3, :3], -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, T[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def segment_pairs(dist: np.ndarray, lengths, step: int = KITTI_STEP) -> list[tuple[int, int, float]]:
    """``(first, last, length)`` of every segment the devkit scores, from distances ``dist [N]``."""
    pairs = []
    for first in range(0, len(dist), step):
        for length in lengths:
            beyond = np.flatnonzero(dist[first:] > dist[first] + length)
            if len(beyond):
                pairs.append((first, first + int(beyond[0]), float(length)))
    return pairs


def segment_errors(gt: np.ndarray, est: np.ndarray, lengths=KITTI_LENGTHS, step: int = KITTI_STEP) -> np.ndarray:
    """Per segment ``[S, 5]``: first frame, last frame, length (m), t_err (m/m), r_err (rad/m)."""
    gt, est = np.asarray(gt, np.float64), np.asarray(est, np.float64)
    if gt.shape != est.shape or gt.ndim != 3 or gt.shape[1:] != (4, 4):
        raise ValueError(f"kitti metric: expected two [N,4,4] arrays of equal shape, got {gt.shape} and {est.shape}")
    pairs = segment_pairs(trajectory_distances(gt), lengths, step)
    if not pairs:
        return np.zeros((0, 5))
    a, b, L = (np.array(v) for v in zip(*pairs))
    delta_gt = _inv(gt[a]) @ gt[b]
    delta_est = _inv(est[a]) @ est[b]
    err = _inv(delta_est) @ delta_gt
    t_err = np.linalg.norm(err[:, :3, 3], axis=1)
    # the devkit's form, kept so the numbers compare with published ones; over 100-800 m segments
    # the angles are large enough for it (per-pair errors use geometry/se3.py's rotation_angle)
    cos = 0.5 * (np.trace(err[:, :3, :3], axis1=1, axis2=2) - 1.0)
    r_err = np.arccos(np.clip(cos, -1.0, 1.0))
    return np.stack([a, b, L, t_err / L, r_err / L], axis=1)


def kitti_metric(gt: np.ndarray, est: np.ndarray, lengths=KITTI_LENGTHS, step: int = KITTI_STEP) -> dict:
    """KITTI drift of ``est`` against ``gt``.

    Returns ``t_err_pct`` (mean translation error, % of the segment length),
    ``r_err_deg_per_100m``, ``n_segments``, ``lengths`` and ``per_length``
    (the same two errors for each length that has segments).  Both errors are
    NaN when the path is shorter than every segment length.
    """
    seg = segment_errors(gt, est, lengths, step)
    res = {"lengths": [float(v) for v in lengths], "step": int(step), "n_segments": int(len(seg)),
           "t_err_pct": float("nan"), "r_err_deg_per_100m": float("nan"), "per_length": {}}
    if len(seg) == 0:
        return res
    res["t_err_pct"] = float(100.0 * seg[:, 3].mean())
    res["r_err_deg_per_100m"] = float(np.degrees(seg[:, 4].mean()) * 100.0)
    for length in lengths:
        sel = seg[seg[:, 2] == float(length)]
        if len(sel):
            res["per_length"][f"{float(length):g}"] = {
                "n": int(len(sel)), "t_err_pct": float(100.0 * sel[:, 3].mean()),
                "r_err_deg_per_100m": float(np.degrees(sel[:, 4].mean()) * 100.0)}
    return res


def auto_lengths(path_length: float) -> tuple[float, ...]:
    """The devkit lengths that fit a path of ``path_length`` metres, else 8 shorter round ones.

    A short clip (e.g. 60 m) gets lengths of 5..40 m so that it can still be scored.
    """
    fit = tuple(v for v in KITTI_LENGTHS if v < path_length)
    if fit:
        return fit
    unit = path_length * 0.8 / 8.0
    if unit <= 0:
        return KITTI_LENGTHS
    nice = [v for v in (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0) if v <= unit]
    unit = nice[-1] if nice else unit
    return tuple(unit * k for k in range(1, 9))
