"""The sliding window: the last ``size`` keyframes optimised together whenever one is added.

Variables: the keyframes' poses (``T_wc``) and the points of the tracks seen in at least
``min_obs`` of them.  Factors (``window/factors.py``): reprojection of each track observation
(Huber), the two-view rotation and direction between consecutive keyframes, and the absolute
step lengths (ground plane, aligned depth; Huber).  The oldest keyframe is held; once the window
has slid, the two oldest are (they have been optimised ``size - 2`` times and carry the scale of
the keyframes that left: holding only one let each window set its own scale from its few
absolute factors, and KITTI 06's ATE went from 0.04 to 0.29 m, docs/backend.md).  Before the first absolute measurement arrives the first
step's length is held too, so the problem always has a unique scale.  A keyframe leaves the
window with its final pose, so the work per keyframe stays bounded (``benchmarks/window_time.py``).

Levenberg-Marquardt starts from the previous solution (poses and points) and the new
keyframe's guess, and stops after ``iterations`` or once an iteration lowers the cost by less than
``relative_tol`` (1 %: warm-started, most windows are there after 2-3 iterations); a solve that
throws, returns non-finite values or ends with a higher cost than it started with is dropped:
the window keeps its guess (the front end's poses) and the record says ``failed``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import gtsam
import numpy as np

from . import factors as fac
from .params import StepMeasurement, WindowParams  # noqa: F401 - the window's interface
from .poses import guess_pose, scale_positions
from .tracks import TrackStore


@dataclass
class _Key:
    frame: int
    ref: int | None
    T_rel: np.ndarray | None  # the front end's relative motion (guess's length), ref -> frame
    rot_sigma: float = 0.0
    dir_sigma: float = 0.0
    steps: list = field(default_factory=list)
    along_sigma: float | None = None
    ratio: tuple[float, float] | None = None  # (this step's length / the previous step's, its log-std)


def _ends(seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``seen [T,K]`` -> the indices ``[T]`` of each track's first and last observation."""
    return np.argmax(seen, 1), seen.shape[1] - 1 - np.argmax(seen[:, ::-1], 1)


def _at(px: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``px [T,K,2]``, ``j [T]`` -> ``[T,2]``: each track's pixel in its keyframe ``j``."""
    T, K = px.shape[:2]
    return np.take(px.reshape(T * K, 2), np.arange(T) * K + j, axis=0)


def _pose_of(values: gtsam.Values, k: int) -> np.ndarray:
    return values.atPose3(fac.X(k)).matrix()


class SlidingWindow:
    """Keyframes in, optimised poses out (:meth:`pose`).  ``K [3,3]``: the camera's intrinsics."""

    def __init__(self, K: np.ndarray, params: WindowParams | None = None, image_size: tuple[int, int] | None = None):
        self.p = params or WindowParams()
        if self.p.size < 2:
            raise ValueError(f"a window needs at least 2 keyframes, got {self.p.size}")
        self.K = np.asarray(K, float)
        self._Kinv = np.linalg.inv(self.K)
        self.cal = fac.calibration(self.K)
        self.image_size = image_size  # (w, h) for the track grid; None: from the observations
        self.tracks = TrackStore(self.p.track_stride)
        self.keys: list[_Key] = []
        self.poses: dict[int, np.ndarray] = {}  # frame -> T_wc (window and left keyframes)
        self.points: dict[int, np.ndarray] = {}  # track id -> world point of the last solve (warm start)
        # keyframe -> {track id: its projection factor}: an observation's factor is built once and used by
        # every solve while its keyframe is in the window (building them was 4 ms of a KITTI solve)
        self._projections: dict[int, dict[int, object]] = {}
        # keyframe -> (its T_rel, the other arguments, its relative prior): built again when they change
        self._priors: dict[int, tuple[np.ndarray, tuple, object]] = {}
        self.slid = False
        self.failed = 0

    # -- input -------------------------------------------------------------------------------
    def start(self, frame: int, pose: np.ndarray) -> None:
        """The first keyframe, held at ``pose [4,4]``."""
        self.keys = [_Key(frame, None, None)]
        self.poses[frame] = np.asarray(pose, float).copy()

    def add(self, frame: int, T_rel: np.ndarray, rot_sigma: float | None = None, dir_sigma: float | None = None,
            steps: list[StepMeasurement] | None = None, along_sigma: float | None = None,
            ratio: tuple[float, float] | None = None) -> dict:
        """A new keyframe ``frame`` posed by ``T_rel [4,4]`` against the last one (its translation at the
        guessed length, in the window's units), with its absolute step lengths and the chain's
        ``ratio`` ``(value, log_sigma)`` of its length to the previous step's; optimises the window
        and returns the solve's record (``report.json``)."""
        if not self.keys:
            raise RuntimeError("start() the window with its first keyframe")
        T_rel = np.asarray(T_rel, float)
        if T_rel.shape != (4, 4) or not np.isfinite(T_rel).all():
            raise ValueError("T_rel must be a finite [4,4] matrix")
        ref = self.keys[-1].frame
        self.keys.append(_Key(frame, ref, T_rel,
                              math.radians(self.p.rot_sigma_deg) if rot_sigma is None else rot_sigma,
                              math.radians(self.p.dir_sigma_deg) if dir_sigma is None else dir_sigma,
                              list(steps or []), along_sigma, ratio))
        self.poses[frame] = guess_pose(self.poses[ref], T_rel)
        if len(self.keys) > self.p.size:
            self.keys.pop(0)
            self.slid = True
            self.tracks.drop_before(self.keys[0].frame)
            for cache in (self._projections, self._priors):
                for f in [f for f in cache if f < self.keys[0].frame]:
                    del cache[f]
        return self._solve()

    def rescale(self, factor: float) -> None:
        """Every position (keyframes, the ones that left, the points) times ``factor`` about the world
        origin: the window's units changed (its first absolute measurement, ``backend.py``)."""
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"scale factor must be positive, got {factor}")
        scale_positions(self.poses.values(), factor)
        for k in self.keys:
            if k.T_rel is not None:
                k.T_rel = k.T_rel.copy()
                scale_positions([k.T_rel], factor)
        self.points = {i: X * factor for i, X in self.points.items()}

    def pose(self, frame: int) -> np.ndarray:
        return self.poses[frame]

    def step_length(self, frame: int) -> float:
        """Length of the step into keyframe ``frame`` at the current estimate."""
        key = next(k for k in self.keys if k.frame == frame)
        return float(np.linalg.norm(self.poses[frame][:3, 3] - self.poses[key.ref][:3, 3]))

    # -- the solve ---------------------------------------------------------------------------
    def _select_tracks(self, frames: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The tracks that enter (``ids [T]``, ``px [T,K,2]``, ``seen [T,K]``), at most ``max_tracks``:
        the longest first, taken in turn from the 32 cells of a 8x4 grid over the image (their last
        observation's cell), so that the whole image is covered."""
        ids, px, seen = self.tracks.tracks(frames, min(self.p.min_obs, len(frames)))
        # np.take / np.compress rather than fancy or boolean indexing: the same copies, several times faster
        if len(ids):  # the parallax between the first and the last observation, at the current poses
            j0, j1 = _ends(seen)
            R = np.stack([self.poses[f][:3, :3] for f in frames])
            hom = np.ones((len(ids), 3))  # homogeneous pixels of one observation per track
            def ray(j):
                hom[:, :2] = _at(px, j)
                r = np.einsum("nij,nj->ni", np.take(R, j, axis=0), hom @ self._Kinv.T)
                return r / np.linalg.norm(r, axis=1, keepdims=True)
            ok = np.einsum("ni,ni->n", ray(j0), ray(j1)) <= math.cos(math.radians(self.p.min_parallax_deg))
            ids, px, seen = (np.compress(ok, a, axis=0) for a in (ids, px, seen))
        if len(ids) <= self.p.max_tracks:
            return ids, px, seen
        n_obs = seen.sum(1)
        last = _at(px, _ends(seen)[1])
        w, h = self.image_size or (last[:, 0].max() + 1, last[:, 1].max() + 1)
        cell = np.clip(last[:, 1] / h * 4, 0, 3).astype(int) * 8 + np.clip(last[:, 0] / w * 8, 0, 7).astype(int)
        order = np.lexsort((ids, -n_obs))  # longest first, then by id (deterministic)
        # rank of each track within its cell, in that order: round-robin over the cells
        cell_o = cell[order]
        by_cell = np.argsort(cell_o, kind="stable")
        starts = np.searchsorted(cell_o[by_cell], cell_o[by_cell], side="left")
        rank = np.empty(len(order), int)
        rank[by_cell] = np.arange(len(order)) - starts
        pick = np.sort(order[np.argsort(rank, kind="stable")[: self.p.max_tracks]])
        return tuple(np.take(a, pick, axis=0) for a in (ids, px, seen))

    def _points(self, ids: np.ndarray, px: np.ndarray, seen: np.ndarray, frames: list[int]) -> np.ndarray:
        """``[T,3]`` world points of the tracks: the last solve's, else GTSAM's linear (DLT) triangulation
        of the first and the last observation at the current poses; NaN where it fails (GTSAM's
        cheirality and under-constrained exceptions).  GTSAM's, not the run's mid-point kernel, so that
        the window's process does not import torch (``remote.py``: it starts in 0.35 s instead of 2)."""
        X = np.full((len(ids), 3), np.nan)
        known = [(t, self.points[i]) for t, i in enumerate(ids.tolist()) if i in self.points]
        if known:
            X[[t for t, _ in known]] = np.array([x for _, x in known])
        new = np.flatnonzero(np.isnan(X[:, 0]))
        if not len(new):
            return X
        j0, j1 = _ends(seen[new])
        cams = {j: gtsam.Pose3(self.poses[frames[j]]) for j in set(j0.tolist()) | set(j1.tolist())}
        for t, a, b in zip(new.tolist(), j0.tolist(), j1.tolist()):
            try:
                X[t] = gtsam.triangulatePoint3([cams[a], cams[b]], self.cal, [px[t, a], px[t, b]], 1e-9, False)
            except RuntimeError:
                pass
        return X

    def _consistent(self, X: np.ndarray, px: np.ndarray, seen: np.ndarray, frames: list[int]) -> np.ndarray:
        """``[T]``: the point is finite, in front of every keyframe that sees it and within ``outlier_px``
        of each observation."""
        R = np.stack([self.poses[f][:3, :3] for f in frames])  # [K,3,3]
        c = np.stack([self.poses[f][:3, 3] for f in frames])  # [K,3]
        Xc = np.einsum("kji,tkj->tki", R, X[:, None, :] - c[None])  # R^T (X - c): [T,K,3]
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.einsum("ij,tkj->tki", self.K, Xc / Xc[..., 2:3])[..., :2]
            err = np.linalg.norm(u - px, axis=-1)
            ok = (Xc[..., 2] > 0) & (err <= self.p.outlier_px)
        return np.isfinite(X).all(1) & np.where(seen, ok, True).all(1)

    def _scale_hint(self, i: int) -> float:
        """The length of the last step before ``keys[i]`` that has one (1 when none has)."""
        for k in reversed(self.keys[1:i]):
            length = self.step_length(k.frame)
            if length > 0:
                return length
        return 1.0

    def _relative_prior(self, i: int):
        """``keys[i]``'s two-view prior (``factors.relative_prior``), built again only when its arguments
        changed: its ``T_rel`` (a rescale replaces it) or, for a rotation-only step, the scale hint."""
        k = self.keys[i]
        along = self.p.along_sigma if k.along_sigma is None else k.along_sigma
        hint = self._scale_hint(i)
        args = (k.ref, k.rot_sigma, k.dir_sigma, along, hint if fac.rotation_only(k.T_rel, hint) else None)
        got = self._priors.get(k.frame)
        if got is None or got[0] is not k.T_rel or got[1] != args:
            got = self._priors[k.frame] = (k.T_rel, args, fac.relative_prior(k.ref, k.frame, k.T_rel, *args[1:4], hint))
        return got[2]

    def _solve(self) -> dict:
        p, keys = self.p, self.keys
        t0 = time.perf_counter()
        frames = [k.frame for k in keys]
        n_fixed = min(2 if self.slid else 1, len(keys) - 1)
        graph, values = gtsam.NonlinearFactorGraph(), gtsam.Values()
        for i, k in enumerate(keys):
            values.insert(fac.X(k.frame), gtsam.Pose3(self.poses[k.frame]))
            if i < n_fixed:
                graph.add(fac.fixed(k.frame, self.poses[k.frame]))
            if i > 0 and k.T_rel is not None:
                graph.add(self._relative_prior(i))
        ratios = [(keys[i - 2].frame, k.ref, k.frame, *k.ratio) for i, k in enumerate(keys) if i >= 2
                  and k.ratio is not None and k.ref == keys[i - 1].frame and keys[i - 1].ref == keys[i - 2].frame]
        if ratios:
            graph.add(fac.length_ratios(ratios, p.ratio_huber))
        n_ratios = len(ratios)
        absolute = []
        for k in keys[n_fixed:]:
            for s in k.steps:
                if math.isfinite(s.value) and s.value > 0 and s.log_sigma > 0:
                    graph.add(fac.step_length(k.ref, k.frame, s.value, s.log_sigma, p.scale_huber))
                    absolute.append((k, s))
        if not absolute and n_fixed == 1:
            graph.add(fac.step_anchor(keys[0].frame, keys[1].frame, self.step_length(keys[1].frame)))
        ids, px, seen = self._select_tracks(frames)
        noise = fac.pixel_noise(p.pixel_sigma, p.pixel_huber)
        cache = [self._projections.setdefault(f, {}) for f in frames]
        X = self._points(ids, px, seen, frames)
        good = self._consistent(X, px, seen, frames)
        rows = np.flatnonzero(good)
        used = ids[rows].tolist()
        for i, x in zip(used, X[rows]):
            values.insert(fac.L(i), x)
        # the observations track by track, each track's in keyframe order (the factors' order of the solve)
        tt, jj = np.nonzero(seen[rows])
        for t, j in zip(tt.tolist(), jj.tolist()):
            i = used[t]
            f = cache[j].get(i)
            if f is None:
                f = cache[j][i] = fac.projection(i, px[rows[t], j], frames[j], self.cal, noise)
            graph.add(f)
        n_obs = len(tt)
        t_build = time.perf_counter() - t0
        rec = {"frame": frames[-1], "keyframes": len(frames), "tracks": len(used), "observations": n_obs,
               "ratios": n_ratios}
        cost0 = graph.error(values)
        status, iters, cost1 = "ok", 0, float("nan")
        try:
            params = gtsam.LevenbergMarquardtParams()
            params.setMaxIterations(p.iterations)
            params.setRelativeErrorTol(p.relative_tol)
            opt = gtsam.LevenbergMarquardtOptimizer(graph, values, params)
            result = opt.optimize()
            iters = opt.iterations()
            cost1 = graph.error(result)
            if not math.isfinite(cost1):
                status = "failed: non-finite cost"
            elif cost1 > cost0 * (1 + 1e-9):
                status = "failed: the cost went up"
        except RuntimeError as exc:  # gtsam's IndeterminantLinearSystemException and friends
            status = f"failed: {str(exc).strip().splitlines()[0][:120]}"
        if status == "ok":
            new = {k.frame: _pose_of(result, k.frame) for k in keys}
            if not all(np.isfinite(T).all() for T in new.values()):
                status = "failed: non-finite pose"
        if status == "ok":
            self.poses.update(new)
            self.points = self._solved_points(result, used)
        else:
            self.failed += 1
        rec.update(status=status, cost_before=round(float(cost0), 4),
                   cost_after=round(float(cost1), 4) if math.isfinite(cost1) else None, iterations=int(iters),
                   time_s=round(time.perf_counter() - t0, 5), build_s=round(t_build, 5),
                   absolute=[self._residual(k, s) for k, s in absolute])
        return rec

    @staticmethod
    def _solved_points(result: gtsam.Values, used: list[int]) -> dict[int, np.ndarray]:
        """Track id -> its point in ``result``.  GTSAM's ``extractPoint3`` reads them all at once, in the order
        of their keys, which is the order of ``used`` (ascending ids); point by point otherwise."""
        P = gtsam.utilities.extractPoint3(result)
        if len(P) == len(used) and (not used or (used[0] >= 0 and all(a < b for a, b in zip(used, used[1:])))):
            return dict(zip(used, P))
        return {i: result.atPoint3(fac.L(i)) for i in used}

    def _residual(self, key: _Key, s: StepMeasurement) -> dict:
        length = self.step_length(key.frame)
        r = (length - s.value) / (s.value * s.log_sigma)
        return {"source": s.source, "frame": key.frame, "value": round(s.value, 6), "estimate": round(length, 6),
                "residual_sigmas": round(float(r), 3), "downweighted": bool(abs(r) > self.p.scale_huber)}
