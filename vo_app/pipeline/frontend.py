"""The front end of the chain: each frame's pair geometry against the chain's reference, its dense
matches and the point memory (docs/architecture.md, steps 3-8).

:meth:`FrontEnd.pair` returns a :class:`FrontRecord` per frame: the two-view result (relative
rotation ``R``, unit translation ``t``), computed again when the speculative one was paired
with another frame than the chain's reference.  :meth:`FrontEnd.measure` adds the dense matches
and the chain's ratio (this pair's norm over the norm of the pair that made the point memory,
``scale_chain.py``) with the parallax it was measured at.  The memory of points triangulated in
the current reference is kept here (:meth:`FrontEnd.keep_memory`, :meth:`FrontEnd.carry`).
Every pair is a function of its two images and the seed only (:func:`pair_seed`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .config import VOConfig
from .pair import PairResult, estimate_pairs
from .scale_chain import (DenseMatches, PairMemory, bridge_thresholds, carry_memory, dense_matches, fill_memory,
                          ratio_from_dense)


def pair_seed(cfg: VOConfig, frame_index: int) -> int:
    """Seed of the sampling and RANSAC of the pair ending at ``frame_index`` (not of its reference)."""
    return (cfg.seed * 1_000_003 + frame_index) % 2**63


@dataclass
class FrontRecord:
    """One frame's pair against its reference, as the front end measured it.

    ``res``: the two-view result (``R [3,3]``, unit ``t [3]``, ``p1``/``depth1``, fallback);
    ``flow_f``/``flow_b``: ``[H,W,2]`` flows reference -> frame and back; ``t_flow``/``t_geo``: seconds.
    Filled by :meth:`FrontEnd.measure` (pairs with a pose from F only): ``span`` (frames of motion
    in the pair), ``bridge`` (the pair spans a damaged frame), ``bridged_ratio`` (its ratio crosses
    that gap), ``dense`` (None with ``--scale rgbd``), ``ratio`` (norm / memory's norm, None when
    unreliable or without memory), ``ratio_parallax`` (deg, the threshold it was measured at),
    ``chain_note``, ``chain_scale`` (the chain's norm: from the ratio, else the expected one) and
    ``chain_full`` (its note, saying which norm was kept without a ratio).
    """

    frame: object
    ref_frame: object
    gray: np.ndarray
    res: PairResult
    flow_f: np.ndarray
    flow_b: np.ndarray
    t_flow: float
    t_geo: float
    span: int = 1
    bridge: bool = False
    bridged_ratio: bool = False
    dense: DenseMatches | None = None
    ratio: float | None = None
    ratio_parallax: float = float("nan")
    chain_note: str = ""
    chain_scale: float = float("nan")
    chain_full: str = ""

    @property
    def R(self) -> np.ndarray:
        return self.res.R

    @property
    def t(self) -> np.ndarray:
        return self.res.t


class FrontEnd:
    """Pair geometry, dense matches and the point memory of one run (``source``: the
    :class:`~vo_app.pipeline.source.FlowSource`, for flows against another reference)."""

    def __init__(self, cfg: VOConfig, K: np.ndarray, source, device: str):
        self.cfg, self.K, self.source, self.device = cfg, K, source, device
        self.mem: PairMemory | None = None
        self.mem_at = -1  # the frame whose pair made the memory
        self.mem_bridge = False  # the memory was made by a bridging pair
        # the last posed pair's norm and the frames it spans (None: no pair posed yet, the first norm is 1)
        self.last_scale, self.last_span = 1.0, None
        self.still_at = -1  # the last frame seen not to move from its reference (no_motion)
        # the last frame without an image (damaged): the pair over it bridges it (docs/robustness.md)
        self.skipped_at = -1
        self.recomputed = 0  # pairs whose flow was computed again against the chain's reference
        # track ids for the back end's window (None: not tracked): the next fresh id
        self.next_id: int | None = 0 if cfg.window > 0 else None

    def _estimate(self, flow_f, flow_b, frame_index: int) -> PairResult:
        return estimate_pairs([flow_f], [flow_b], self.K, self.cfg, [pair_seed(self.cfg, frame_index)],
                              self.device)[0]

    def pair(self, item, res: PairResult | None, ref_frame, ref_gray) -> FrontRecord:
        """``item``'s pair against ``ref_frame``: ``res`` (the speculative geometry) when its flow was
        computed against that frame, else flow and geometry again."""
        frame, t_flow, flow_f = item.frame, item.t_flow, item.flow_fwd
        if item.ref is None or item.ref.index != ref_frame.index:
            # The flow was computed against another frame than the reference the chain kept.
            flow_f, flow_b, t_flow = self.source.flow(ref_frame, ref_gray, frame, item.gray)
            res = None
            self.recomputed += 1
        else:
            flow_b = item.flow_bwd
        if res is None:
            t0 = time.perf_counter()
            res = self._estimate(flow_f, flow_b, frame.index)
            t_geo = time.perf_counter() - t0
        else:
            t_geo = sum(res.timings.values())
        return FrontRecord(frame, ref_frame, item.gray, res, flow_f, flow_b, t_flow, t_geo)

    def repair(self, fr: FrontRecord, ref_frame, ref_gray) -> FrontRecord:
        """``fr``'s frame against another reference (a released one); times add up."""
        flow_f, flow_b, t_more = self.source.flow(ref_frame, ref_gray, fr.frame, fr.gray)
        t0 = time.perf_counter()
        res = self._estimate(flow_f, flow_b, fr.frame.index)
        t_geo = fr.t_geo + time.perf_counter() - t0
        return FrontRecord(fr.frame, ref_frame, fr.gray, res, flow_f, flow_b, fr.t_flow + t_more, t_geo)

    def carry(self, flow_f: np.ndarray, T_rel: np.ndarray) -> None:
        """Move the memory to the frame ``flow_f`` leads to (metric ``T_rel [4,4]`` reference -> frame)."""
        if self.mem is not None:
            self.mem = carry_memory(self.mem, flow_f, T_rel, self.K)

    def measure(self, fr: FrontRecord, ref_gray, dense: bool = True) -> FrontRecord:
        """The span, the dense matches (``dense``) and the chain's ratio of a pair posed by its F."""
        cfg, frame, ref_frame, res = self.cfg, fr.frame, fr.ref_frame, fr.res
        fr.bridge = ref_frame.index < self.skipped_at < frame.index  # the pair spans a damaged frame
        # the two ratios that cross the gap: the bridge's to the pair before it, the next pair's to it
        fr.bridged_ratio = fr.bridge or (self.mem is not None and self.mem_bridge)
        # frames of motion between the pair's two frames (a stop held the reference without moving)
        fr.span = span = frame.index - max(ref_frame.index, self.still_at)
        if not dense:
            return fr
        # One Lucas-Kanade call and one triangulation serve the ratio and the next memory.
        images = (ref_gray, fr.gray) if cfg.scale_lk_refine else None
        fr.dense = d = dense_matches(self.mem, fr.flow_f, res.rigid_score > 0, res.R, res.t, self.K, images,
                                     step=cfg.scale_grid_step, threads=2 if cfg.pipeline else 1,
                                     lk_min_parallax_deg=cfg.scale_lk_min_parallax_deg, backend=cfg.backend,
                                     first_id=self.next_id)
        if d.ids is not None:
            self.next_id += len(d.p) - d.shared
        ratio, thr = None, float("nan")
        # The norm this pair has at the speed of the pair that made the memory (or of the
        # last posed pair): the pairs may span different numbers of frames where a
        # reference was kept (fallbacks, keyframes), and the norm grows with the span.
        base_scale, base_span = ((self.mem.scale, self.mem.span) if self.mem is not None
                                 else (self.last_scale, self.last_span or span))
        expected = base_scale * span / base_span
        if self.mem is None:
            chain_note = "no shared points with a previous pair"
        else:
            r, n_used, thr = ratio_from_dense(self.mem, d, cfg.min_scale_points,
                                              bridge_thresholds(cfg.scale_parallax_deg) if fr.bridged_ratio
                                              else tuple(cfg.scale_parallax_deg))
            # a jump is a norm far from both that expectation and the last pair's norm (the
            # speed changes too: a start from standstill, a held keyframe's older memory)
            lo, hi = sorted((expected, self.last_scale))
            norm = r * self.mem.scale
            # after a stop since the memory was made, the speed is anyone's guess: no jump test
            stopped = self.still_at > self.mem_at
            if np.isfinite(norm) and norm > 0 and (
                    stopped or lo / cfg.max_scale_change <= norm <= hi * cfg.max_scale_change):
                ratio, chain_note = r, f"triangulation ({n_used} shared points, parallax >= {thr} deg)"
            else:
                chain_note = f"unreliable ratio {r:.3g} from {n_used} points"
        fr.ratio, fr.ratio_parallax, fr.chain_note = ratio, thr, chain_note
        if ratio is not None:
            fr.chain_scale, fr.chain_full = self.mem.scale * ratio, chain_note
        else:
            fr.chain_scale, fr.chain_full = expected, chain_note + (
                ": previous norm kept" if span == base_span else f": previous speed kept ({span} frames)")
        return fr

    def step_ratio(self, fr: FrontRecord) -> float | None:
        """The chain's ratio of ``fr``'s norm to the last posed pair's norm (a held keyframe's memory may be older)."""
        return None if fr.ratio is None else fr.ratio * self.mem.scale / self.last_scale

    def keep_memory(self, fr: FrontRecord, scale: float, T_rel: np.ndarray, hold: bool) -> None:
        """After a pair posed by its F with norm ``scale``: the last norm, and the memory made from its
        dense matches when the reference advances (filled from the carried old one per
        ``scale_memory_fill``), or when there is none yet."""
        cfg, dense = self.cfg, fr.dense
        self.last_scale, self.last_span = float(scale), fr.span
        if dense is None:
            return
        if not hold:
            fresh = dense.memory(float(scale), fr.span)
            if self.mem is not None and (cfg.scale_memory_fill == "always" or (
                    cfg.scale_memory_fill == "sparse" and len(fresh.p) < 0.5 * len(self.mem.p))):
                fresh = fill_memory(fresh, carry_memory(self.mem, fr.flow_f, T_rel, self.K), cfg.scale_grid_step)
            self.mem, self.mem_at, self.mem_bridge = fresh, fr.frame.index, fr.bridge
        elif self.mem is None:
            self.mem, self.mem_at = dense.reference_memory(float(scale), fr.span), fr.frame.index
            self.mem_bridge = fr.bridge
