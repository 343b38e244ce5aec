"""The back end (``--window N``): keyframes optimised together in a sliding window.

The front end's chain (``frontend.py``: each pair's rotation, unit translation and the chain's
norm) is the window's initial guess; :class:`~vo_app.pipeline.window.window.SlidingWindow`
optimises the last ``N`` keyframes with the tracks' reprojections, the two-view priors and the
absolute step lengths of the scale sources (``scale_sources.py``: the ground plane, the depth
network).  The chain keeps its own units; ``rho`` converts them to the window's (metres once an
absolute source has spoken) from the last keyframe step.

Every frame that becomes the chain's reference is a keyframe; a frame posed against a held
reference is not, and gets its pose from its reference keyframe's window pose and its pair.  A
reference released back to a held frame (``keyframes.py``) enters the window as a keyframe
first, with the pose its pair gave it.

``--window 0`` writes the front end's chain as it is (and is the fallback of a failed solve for
the keyframes of that window; ``report.json`` names each failed solve).
"""
from __future__ import annotations

import math
import statistics

import numpy as np

from .config import VOConfig
from .frontend import FrontRecord
from .recorder import chain_pose
from .scale_chain import chain_sigma
from .scale_sources import ScaleMeasurement
from .window.levels import Step, segment_levels
from .window.remote import WindowProcess
from .window.params import StepMeasurement, WindowParams
from .window.poses import scale_positions

#: two-view prior of a keyframe whose pose did not come from its F (PnP, rotation-only, a guess): rad
LOOSE_ROT_SIGMA = math.radians(0.5)
LOOSE_DIR_SIGMA = math.radians(20.0)
#: log-std of a step's length against the chain's ratio when no absolute source is in the window
WINDOW_RATIO_SIGMA = 0.1
#: where an absolute source is in the window, the chain's ratio of consecutive keyframe step lengths
#: enters as a factor with the chain's log-std (``scale_chain.chain_sigma``) times this (docs/backend.md:
#: 1x made KITTI 00 1.01 m, the chain's ratios drift over tens of frames; 0 turns the factor off)
WINDOW_CHAIN_RATIO_FACTOR = 3.0
#: log-std of the change of scale level across a break of the chain (``window/levels.py``; the rendered
#: stop-and-go drive, docs/backend.md: 0.03 / 0.1 / 0.2 / 0.5 gave 0.35 / 0.23 / 0.23 / 0.24 % of the path)
LEVEL_BREAK_SIGMA = 0.1


def window_params(cfg: VOConfig) -> WindowParams:
    return WindowParams(size=cfg.window, max_tracks=cfg.window_tracks, iterations=cfg.window_iterations)


class WindowBackEnd:
    """The run's window: ``K [3,3]``, ``size (W, H)`` of the working images."""

    def __init__(self, cfg: VOConfig, K: np.ndarray, size: tuple[int, int], absolute: bool = False):
        """``absolute``: the run has an absolute scale source (ground plane, depth) for the window."""
        self.cfg, self.absolute = cfg, absolute
        params, image_size = window_params(cfg), tuple(size)
        # its own process by default: GTSAM holds the GIL while it solves, which would stop the flow thread
        if cfg.window_process:
            self.window = WindowProcess(K, params, image_size)
        else:
            from .window.window import SlidingWindow  # GTSAM, imported where it solves

            self.window = SlidingWindow(K, params, image_size=image_size)
        self._solving: tuple[int, float | None, dict | None] | None = None  # (keyframe, chain length, record)
        self.rho = 1.0  # window units per chain unit, from the last keyframe step
        self.records: list[dict] = []
        self.last_kf: int | None = None
        self.pending: dict[int, tuple[int, np.ndarray]] = {}  # non-keyframe -> (its keyframe, T_w)
        self.anchored = False  # an absolute step length has set the window's units
        self.last_chain_len: float | None = None  # chain-unit length of the last keyframe step (None: unknown)
        self.keyframes: list[int] = []  # in the order they entered
        self.links: list[tuple[bool, list[StepMeasurement]]] = []  # per step into keyframes[1:]: (chain ratio, absolute)
        self.levels: tuple[dict[int, np.ndarray], dict[int, float]] | None = None  # (keyframe poses, step factors)
        self.levels_record: dict | None = None

    def start(self, frame: int) -> np.ndarray:
        """The first frame: the origin, held."""
        self.window.start(frame, np.eye(4))
        self.last_kf = frame
        self.keyframes = [frame]
        return np.eye(4)

    def to_window(self, T_rel: np.ndarray) -> np.ndarray:
        """A relative motion ``[4,4]`` in the chain's units, in the window's."""
        T = np.array(T_rel, float)
        T[:3, 3] *= self.rho
        return T

    def pose(self, frame: int) -> np.ndarray:
        """The window's pose of a keyframe (its final one once it has left the window)."""
        return self.window.pose(frame)

    def frame(self, fr: FrontRecord, T_rel: np.ndarray, keyframe: bool, posed_by_f: bool,
              absolute: list[tuple[str, ScaleMeasurement]]) -> np.ndarray:
        """The pose ``[4,4]`` of ``fr``'s frame, posed by ``T_rel`` (chain units) against its reference.

        A ``keyframe`` enters the window with its tracks (``fr.dense``), its two-view prior (tight
        where ``posed_by_f``, loose otherwise) and the ``absolute`` step lengths ``(source, measurement)``,
        and the window is solved; another frame hangs off its reference keyframe."""
        self._settle()
        ref, idx = fr.ref_frame.index, fr.frame.index
        if ref != self.last_kf:  # a released reference: it becomes a keyframe first (posed as its pair left it)
            self._enter(ref, None, self.pending.get(ref, (None, np.eye(4)))[1], False, [])
        if keyframe and not self.anchored:
            self._anchor(T_rel, absolute)
        T_w = self.to_window(T_rel)
        if not keyframe:
            self.pending[idx] = (ref, T_w)
            return chain_pose(self.pose(ref), T_w)[0]
        self._enter(idx, fr, T_w, posed_by_f, absolute, float(np.linalg.norm(T_rel[:3, 3])))
        return self.pose(idx)  # the solved pose here, the guess while the window's process solves

    def _settle(self) -> None:
        """Collect the last keyframe's solve (from the window's process, which solved it while the run
        went on), and take the window's units from its step (``rho``)."""
        if self._solving is None:
            return
        idx, length, rec = self._solving
        self._solving = None
        if rec is None:
            rec = self.window.result()
        self.records.append(rec)
        if length is not None and rec["status"] == "ok" and length > 0:
            self.rho = self.window.step_length(idx) / length

    def close(self, abandon: bool = False) -> None:
        """The end of the run: the last solve collected (unless ``abandon``: the run failed or was
        interrupted), the window's process stopped.  Safe to call twice."""
        if not abandon:
            self._settle()
        if isinstance(self.window, WindowProcess):
            self.window.close()
        if not abandon and self.levels is None and self.cfg.window_levels:
            self._level_segments()

    def _level_segments(self) -> None:
        """Each chain segment's scale level from all its absolute step lengths (``window/levels.py``): the
        keyframes re-chained with their steps times their segment's factor, rotations as the window left them."""
        if not self.absolute or len(self.keyframes) < 2:
            return
        poses = {f: self.pose(f) for f in self.keyframes}
        steps = [Step(float(np.linalg.norm(poses[f][:3, 3] - poses[r][:3, 3])), linked, meas)
                 for r, f, (linked, meas) in zip(self.keyframes, self.keyframes[1:], self.links)]
        got = segment_levels(steps, LEVEL_BREAK_SIGMA, self.window.p.scale_huber)
        if got is None:
            return
        factors, self.levels_record = got
        new = {self.keyframes[0]: poses[self.keyframes[0]]}
        step_factor = {self.keyframes[0]: float(factors[0])}  # the first keyframe: its next step's
        for r, f, k in zip(self.keyframes, self.keyframes[1:], factors):
            P = poses[f].copy()
            P[:3, 3] = new[r][:3, 3] + k * (poses[f][:3, 3] - poses[r][:3, 3])
            new[f], step_factor[f] = P, float(k)
        self.levels = (new, step_factor)

    def _anchor(self, T_rel: np.ndarray, absolute: list[tuple[str, ScaleMeasurement]]) -> None:
        """The first absolute step length sets the window's units: everything so far is rescaled so
        that this step's guess has that length (its factor then starts at its value, not dozens of
        sigmas away, where Huber would set it aside: a stop-and-go drive that starts by creeping a
        few millimetres had its chain 25x off at the first ground plane)."""
        values = [m.norm for _, m in absolute if m.sigma is not None and np.isfinite(m.norm) and m.norm > 0]
        length = float(np.linalg.norm(T_rel[:3, 3])) * self.rho
        if values and length > 0:
            factor = float(np.median(values)) / length
            self.window.rescale(factor)
            self.pending = {f: (ref, np.array(T, float)) for f, (ref, T) in self.pending.items()}
            scale_positions([T for _, T in self.pending.values()], factor)
            self.rho *= factor
            self.anchored = True

    def _enter(self, idx: int, fr: FrontRecord | None, T_w: np.ndarray, posed_by_f: bool,
               absolute: list[tuple[str, ScaleMeasurement]], chain_length: float | None = None) -> None:
        """Keyframe ``idx`` into the window; ``chain_length``: its step's length in the chain's units
        (sets ``rho`` once solved; None: it does not)."""
        self._settle()
        ref = self.last_kf
        d = None if fr is None else fr.dense
        if d is not None and d.ids is not None:
            seen = d.kept()
            tracked = d.ids >= 0
            # np.compress: numpy's boolean row indexing took 10x as long on 15,000 rows (docs/backend.md)
            self.window.tracks.observe(ref, np.compress(tracked, d.ids), np.compress(tracked, d.p, axis=0))
            self.window.tracks.observe(idx, np.compress(seen, d.ids), np.compress(seen, d.q, axis=0))
        steps = [StepMeasurement(name, float(m.norm), float(m.sigma)) for name, m in absolute
                 if m.sigma is not None and np.isfinite(m.norm) and m.norm > 0]
        sig = (None, None) if posed_by_f else (LOOSE_ROT_SIGMA, LOOSE_DIR_SIGMA)
        chain_len = float(np.linalg.norm(T_w[:3, 3])) / self.rho  # before the solve moves rho
        ratio = self._chain_ratio(fr, chain_len)
        rec = self.window.add(idx, T_w, *sig, steps=steps, along_sigma=self._ratio_sigma(fr), ratio=ratio)
        self.keyframes.append(idx)
        self.links.append((ratio is not None, steps))
        self._solving = (idx, chain_length, rec)
        if rec is not None:  # solved here already
            self._settle()
        self.last_kf = idx
        self.pending.pop(idx, None)
        self.last_chain_len = None if fr is None else chain_len

    def _chain_ratio(self, fr: FrontRecord | None, length: float) -> tuple[float, float] | None:
        """``(ratio, log_sigma)``: the chain's ratio of this keyframe step's ``length`` (chain units) to the
        last one's, where
        the guess's length came from it (the chain's norm is the memory's norm times the ratio, and the
        memory's norm is the last keyframe step's); its log-std is the chain's (``scale_chain.chain_sigma``:
        wider for ratios measured on low-parallax points) times ``WINDOW_CHAIN_RATIO_FACTOR``."""
        if (fr is None or fr.ratio is None or not self.absolute or self.last_chain_len is None
                or WINDOW_CHAIN_RATIO_FACTOR <= 0):
            return None
        ratio = length / self.last_chain_len if self.last_chain_len > 0 else float("nan")
        if not (np.isfinite(ratio) and ratio > 0 and abs(math.log(ratio / fr.ratio)) < 1e-6):
            return None
        cfg = self.cfg
        sigma = (cfg.chain_ratio_sigma if fr.bridged_ratio else
                 chain_sigma(cfg.chain_ratio_sigma, fr.ratio_parallax, max(cfg.scale_parallax_deg)))
        return ratio, sigma * WINDOW_CHAIN_RATIO_FACTOR

    def _ratio_sigma(self, fr: FrontRecord | None) -> float | None:
        """The log-std of the step's length in its two-view prior.  The guess's length is the chain's
        ratio times the last step: without an absolute source that ratio is the only other measure
        of the relative scale, and the window's few tracks alone let the scale shrink (7-Scenes,
        ``--config indoor``: the path came out 15x short by frame 300, ATE 0.19 m against 0.050 m for
        the chain), so the length is held to it with ``WINDOW_RATIO_SIGMA``.  With the ground plane or
        depth in the window it is left nearly free (``WindowParams.along_sigma``): holding it there
        tied the window to the chain's drift (KITTI 00: 1.07 m with the chain's own sigmas, 0.45 m
        free).  None: the default; no ratio measured: None as well."""
        if fr is None or fr.ratio is None or self.absolute:
            return None
        return WINDOW_RATIO_SIGMA

    def row_pose(self, frame: int) -> np.ndarray:
        """A frame's final pose: a keyframe's from the window, another frame's from its keyframe's."""
        self._settle()
        if self.levels is not None:
            poses, factor = self.levels
            if frame in self.pending:
                ref, T_w = self.pending[frame]
                return chain_pose(poses[ref], scale_positions([np.array(T_w, float)], factor[ref])[0])[0]
            return poses[frame]
        if frame in self.pending:
            ref, T_w = self.pending[frame]
            return chain_pose(self.pose(ref), T_w)[0]
        return self.pose(frame)

    def summary(self) -> dict:
        """``report.json``'s ``window``: the settings, every solve, and their times."""
        self._settle()
        t = [r["time_s"] for r in self.records]
        return {
            "size": self.window.p.size,
            "process": isinstance(self.window, WindowProcess),
            # solved in the run's process while the window's own was starting
            "solved_before_process": self.window.solved_here if isinstance(self.window, WindowProcess) else None,
            "solves": len(self.records),
            "failed": sum(r["status"] != "ok" for r in self.records),
            "time_median_s": round(statistics.median(t), 5) if t else None,
            "time_max_s": round(max(t), 5) if t else None,
            "levels": self.levels_record,
            "keyframes": self.records,
        }
