"""The VO loop: flow -> pair geometry -> scale -> chaining (docs/architecture.md, steps 1-10).

Steps 1-2 (reading, flow) come from :class:`vo_app.pipeline.source.FlowSource`, in a
background thread unless ``cfg.pipeline`` is off; steps 3-7 run for ``cfg.batch`` pairs at
once through :func:`vo_app.pipeline.pair.estimate_pairs`, speculatively, with each frame
paired with the previous one (or with the reference the loop was keeping when the flow was
computed); steps 8-10 (keyframe decision, scale, chaining, outputs) run in frame order in
:class:`_Chain`.  When the chain's reference for a frame is not the one its flow was computed
against (a ``no_motion`` or low-parallax pair kept the old reference), the chain computes that
pair again, flow included, with the same code and seed.  Every pair's result is a function
of its two images and the seed only, so the trajectory does not depend on the batch size, on
the pipelining or on the guesses (tested).
"""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from .. import geometry as geo
from ..errors import UserError
from ..geometry.ground_plane import fit_ground_plane, ground_candidates
from ..models import make_flow_backend
from .events import frame_event
from .alloc import keep_freed_memory
from .config import VOConfig
from .output import RunOutput
from .pair import DEGENERATE, NO_MOTION, PURE_ROTATION, TOO_FEW_INLIERS, PairResult, estimate_pairs
from .scale_chain import (PairMemory, bridge_thresholds, carry_memory, dense_matches, depth_at, fill_memory,
                          ratio_from_dense, scale_from_rgbd)
from .scale_fusion import ScaleFilter, chain_sigma
from .source import FlowItem, FlowSource

MAX_BATCH = 256
GROUND_MIN_PARALLAX_DEG = 0.5  # road points triangulated with less parallax are too noisy to fit the plane to
# the flow's error (px) behind the depth noise of a triangulated point, sigma(depth)/depth ~ error / (f * parallax):
# the points under GROUND_MIN_PARALLAX_DEG still veto planes they lie far below (fit_ground_plane's noise)
GROUND_FLOW_NOISE_PX = 0.25


def _parallax_weights(res: PairResult) -> np.ndarray:
    """Inverse-variance weights (~ parallax^2) of the pair's triangulated points, for the depth alignment."""
    return np.arccos(np.clip(res.cos_parallax, -1.0, 1.0)) ** 2


def resolve_device(name: str) -> str:
    """``auto`` -> ``cpu``; ``cuda`` without a GPU is a UserError.

    ``auto`` picks the CPU kernels even where torch sees a GPU: on an H100 machine the CUDA
    path of the pair geometry was 8-19x slower per pair than the threaded C++ kernels
    (``benchmarks/bench_geometry_gpu.py``; benchmarks/README.md "Geometry core on a GPU").
    ``--device cuda`` still runs it.
    """
    if name in ("auto", "cpu"):
        return "cpu"
    if name != "cuda":
        raise UserError(f"unknown device {name!r}", fix="use --device auto, cpu or cuda")
    import torch

    if torch.cuda.is_available():
        return "cuda"
    raise UserError("--device cuda: torch sees no CUDA GPU on this machine", fix="use --device cpu or --device auto")


def pair_seed(cfg: VOConfig, frame_index: int) -> int:
    """Seed of the sampling and RANSAC of the pair ending at ``frame_index`` (not of its reference)."""
    return (cfg.seed * 1_000_003 + frame_index) % 2**63


def _chain_pose(ref_pose: np.ndarray, T_rel: np.ndarray) -> tuple[np.ndarray, bool]:
    """The pose of a frame from its reference's pose and the relative motion; a non-finite result
    is never chained: the reference pose is held instead (second value False)."""
    pose = ref_pose @ geo.inverse(T_rel)
    return (pose, True) if np.isfinite(pose).all() else (ref_pose.copy(), False)


def _pair_record(frame, ref, res: PairResult | None, scale, scale_note, t_flow, t_total) -> dict:
    rec = {"frame": frame, "ref": ref, "t_flow_s": round(t_flow, 5), "t_total_s": round(t_total, 5)}
    if res is not None:
        rec.update(
            fallback=res.fallback,
            candidates=res.n_candidates,
            inliers=res.n_inliers,
            triangulated=res.n_triangulated,
            median_flow_px=round(res.median_flow, 3),
            parallax_px=round(res.parallax, 3),
            scale=None if scale is None else float(scale),
            scale_note=scale_note,
            timings_s={k: round(v, 5) for k, v in res.timings.items()},
        )
    return rec


class _Chain:
    """Steps 8-10 in frame order: keyframe decision, scale, chaining, outputs."""

    def __init__(self, seq, cfg: VOConfig, out: RunOutput, report: dict, source: FlowSource, device: str,
                 progress: Callable | None, on_frame: Callable | None):
        self.seq, self.cfg, self.out, self.report, self.source, self.device = seq, cfg, out, report, source, device
        self.progress, self.on_frame = progress, on_frame
        self.K = seq.intrinsics.K
        self.ref = None  # (frame, pose_world, gray) of the current reference (key) frame
        self.mem: PairMemory | None = None
        self.mem_at = -1  # the frame whose pair made the memory
        self.last_motion = np.eye(4)  # last metric relative motion, for the constant-motion guess
        # the last posed pair's norm and the frames it spans (None: no pair posed yet, the first norm is 1)
        self.last_scale, self.last_span = 1.0, None
        self.still_at = -1  # the last frame seen not to move from its reference (no_motion)
        # the last frame without an image (damaged): the pair over it bridges it (docs/robustness.md)
        self.skipped_at = -1
        self.mem_bridge = False  # the memory was made by a bridging pair
        # the last frame posed against the held reference: (frame, pose_world, gray, flow ref -> it, T_rel)
        self.held: tuple | None = None
        self.recomputed = 0
        self.released = 0
        self.depth = None
        if cfg.scale in ("depth", "fused") and cfg.depth_weights:
            from .depth_scale import DepthScale

            self.depth = DepthScale(cfg.depth_weights, self.K, seq.size)
        self.filter = ScaleFilter(cfg.fusion_ratio_sigma) if cfg.scale == "fused" else None
        # per output row: None (no pose), or how its pose was made (for the smoothed rewrite, resmooth())
        self.rows: list[dict | None] = []
        self.row_of: dict[int, int] = {}  # frame index -> output row

    def _fused(self, ratio, ratio_parallax: float, chain_note: str, dense, res: PairResult,
               ref_frame, bridge: bool = False) -> tuple[float, str, dict]:
        """``--scale fused`` for one posed pair: the chain's ratio (measured on points of at least
        ``ratio_parallax`` deg; its log-std from ``chain_sigma``, or the full-parallax one for a
        ``bridge`` ratio) predicts, the ground plane and the
        depth network correct (``scale_fusion.py``); returns the norm, a note and the sources' record."""
        cfg, f = self.cfg, self.filter
        # a ratio over a damaged frame is measured on low-parallax points on purpose (bridge_thresholds),
        # and measured as precise as a full-parallax one (docs/robustness.md): it keeps the chain's weight
        sigma = (cfg.fusion_ratio_sigma if bridge else
                 chain_sigma(cfg.fusion_ratio_sigma, ratio_parallax, max(cfg.scale_parallax_deg)))
        f.predict(ratio, initial=self.last_scale, sigma=sigma)
        sources = {"chain": {"ratio": None if ratio is None else round(float(ratio), 6), "note": chain_note}}
        if ratio is not None:
            sources["chain"].update(sigma=round(sigma, 5), parallax_deg=float(ratio_parallax))
        if cfg.camera_height is not None:
            plane = None
            if dense is not None:
                pts = dense.tri.points
                sel = dense.tri.valid & dense.ok & (dense.angle > 0) & ground_candidates(dense.p, self.K, self.seq.size)
                angle = dense.angle[sel]
                plane = fit_ground_plane(pts[sel], angle ** 2, fit=angle >= np.radians(GROUND_MIN_PARALLAX_DEG),
                                         noise=GROUND_FLOW_NOISE_PX / (self.K[0, 0] * angle),
                                         max_tilt_deg=cfg.ground_max_tilt_deg, seed=int(ref_frame.index))
            if plane is None:
                sources["ground"] = f.update("ground", float("nan"), cfg.fusion_ground_sigma)
                sources["ground"]["note"] = "no road plane found"
            else:
                sources["ground"] = f.update("ground", cfg.camera_height / plane.distance, cfg.fusion_ground_sigma)
                sources["ground"].update(inliers=plane.n_inliers, normal=[round(float(v), 4) for v in plane.normal])
        if self.depth is not None:
            s_d, n_d, note_d = self.depth.scale(ref_frame, res.p1, res.depth1, _parallax_weights(res),
                                                cfg.min_scale_points)
            sources["depth"] = f.update("depth", s_d, cfg.fusion_depth_sigma)
            sources["depth"]["note"] = note_d
        used = [k for k, v in sources.items() if k != "chain" and v.get("used")]
        note = f"fused: chain {'ratio' if ratio is not None else 'none'}" + (f" + {' + '.join(used)}" if used else "")
        return f.value, note, sources

    def _reference_depth(self, ref_frame) -> tuple[np.ndarray | None, str]:
        """Metric depth ``[H,W]`` of the reference frame for the fallback, and its source."""
        if self.cfg.scale == "rgbd" and ref_frame.depth is not None:
            return ref_frame.depth, "rgbd"
        if self.depth is not None:
            d = self.depth.depth(ref_frame)
            return (d, "network") if np.isfinite(d).all() else (None, "network depth not finite")
        return None, ""

    def _pnp(self, p1: np.ndarray, p2: np.ndarray, depth1: np.ndarray, ref_frame):
        """:func:`vo_app.geometry.pnp.pose_pnp` with the run's inlier minimum and a seed per reference."""
        from ..geometry.pnp import pose_pnp

        return pose_pnp(p1, p2, depth1, self.K, min_inliers=self.cfg.min_inliers,
                        seed=pair_seed(self.cfg, ref_frame.index))

    def _depth_pose(self, res: PairResult, ref_frame, ref_gray, gray, direct: bool = True,
                    min_share: float = 0.0) -> tuple[np.ndarray | None, str | None]:
        """Where F gives no pose: PnP of the sampled matches against the reference frame's depth, then
        (``depth_fallback: pnp+direct`` and ``direct``) the photometric refinement (``geometry/pnp.py``,
        ``geometry/direct.py``).  ``(None, why)`` without depth, when PnP fails or keeps under
        ``min_share`` of the matches; ``(T_rel, note)`` otherwise."""
        cfg = self.cfg
        if cfg.depth_fallback == "none" or res.samples is None:
            return None, None
        depth, source = self._reference_depth(ref_frame)
        if depth is None:
            return None, (source or None)
        from ..geometry.direct import refine_direct

        p1, p2 = res.samples
        pnp = self._pnp(p1, p2, depth_at(depth, p1), ref_frame)
        if not pnp.ok:
            return None, f"PnP on the {source} depth failed"
        if pnp.inliers.mean() < min_share:
            return None, f"PnP on the {source} depth: {pnp.inliers.mean():.0%} inliers, under {min_share:.0%}"
        T, how = pnp.T, "pnp"
        if cfg.depth_fallback == "pnp+direct" and direct:
            direct = refine_direct(ref_gray.astype(np.float32) / 255.0, gray.astype(np.float32) / 255.0,
                                   np.asarray(depth, np.float32), self.K, pnp.T)
            if np.isfinite(direct.T).all():
                T, how = direct.T, "pnp+direct"
        return T, f"{how} on the {source} depth ({int(pnp.inliers.sum())} PnP inliers)"

    def _fallback_pose(self, res: PairResult, ref_frame, ref_gray, gray, flow_f: np.ndarray):
        """Where F gives no pose: PnP against the sensor's depth (``--scale rgbd``), else against the
        points the chain triangulated in the reference frame, else against the depth network's
        depth; ``(None, why)`` when none works.  The network's depth comes last: its relative
        depth errors turn a sideways step into a yaw (docs/running.md, "Fallbacks")."""
        sources = [lambda: self._map_pose(ref_frame, flow_f), lambda: self._depth_pose(res, ref_frame, ref_gray, gray)]
        if self.cfg.scale == "rgbd" and ref_frame.depth is not None:
            sources.reverse()
        why = None
        for pose in sources:
            T, note = pose()
            if T is not None:
                return T, note
            why = why or note
        return None, why

    def _map_pose(self, ref_frame, flow_f: np.ndarray) -> tuple[np.ndarray | None, str | None]:
        """The pose of a frame against the points the chain triangulated in its reference frame
        (``self.mem``, depths times their pair's norm): PnP on their flow matches, well posed even
        when this pair's own parallax is small."""
        mem, cfg = self.mem, self.cfg
        if mem is None or len(mem.p) < cfg.min_inliers:
            return None, None
        q = mem.p + geo.sample_flow(flow_f, mem.p.astype(np.float32)).astype(np.float64)
        pnp = self._pnp(mem.p, q, mem.depth * mem.scale, ref_frame)
        if not pnp.ok:
            return None, "PnP on the triangulated points failed"
        return pnp.T, f"pnp on the reference's triangulated points ({int(pnp.inliers.sum())} inliers)"

    def resmooth(self) -> None:
        """``--scale fused`` with ``fusion_smoother: rts``, at the end of the run: every fused pair's norm
        from the smoothed filter (``ScaleFilter.smoothed``), the poses chained again with them, and the
        output rewritten.  Other pairs keep their relative motion; ``report.json`` keeps the causal
        norm of each pair as ``scale_causal``."""
        if self.filter is None or self.cfg.fusion_smoother != "rts" or not self.filter.history:
            return
        norms = self.filter.smoothed()
        poses: list[np.ndarray | None] = []
        for row in self.rows:
            if row is None or row["ref"] is None:
                poses.append(None if row is None else np.eye(4))
                continue
            T = row["T"]
            if row["fused"] is not None:
                T = geo.make_pose(row["R"], row["t"] * norms[row["fused"]])
                rec = self.report["pairs"][row["pair"]]
                rec["scale_causal"], rec["scale"] = rec["scale"], round(float(norms[row["fused"]]), 6)
            poses.append(_chain_pose(poses[row["ref"]], T)[0])
        self.out.rewrite(poses)

    def _tick(self) -> None:
        if self.progress:
            self.progress(1)

    def step(self, item: FlowItem, res: PairResult | None) -> None:
        """Take the next frame; ``res`` is the speculative geometry of ``item`` (None: not computed)."""
        cfg, frame = self.cfg, item.frame
        if frame.image is None:
            self.report["skipped_frames"].append({"frame": frame.index, "path": frame.path,
                                                  "reason": frame.extra.get("error", "unreadable")})
            self.skipped_at = frame.index
            self.out.add(frame.timestamp, None)
            self.rows.append(None)
            self._tick()
            return
        if self.ref is None:
            self.ref = (frame, np.eye(4), item.gray)
            self.row_of[frame.index] = len(self.rows)
            self.rows.append({"ref": None})
            self.out.add(frame.timestamp, np.eye(4))
            if self.on_frame is not None:
                self.on_frame(frame_event(frame.index, np.eye(4)))
            self._tick()
            return
        ref_frame, ref_pose, ref_gray = self.ref
        t_flow, flow_f = item.t_flow, item.flow_fwd
        t_geo = 0.0
        if item.ref is None or item.ref.index != ref_frame.index:
            # The flow was computed against another frame than the reference the chain kept.
            flow_f, flow_b, t_flow = self.source.flow(ref_frame, ref_gray, frame, item.gray)
            res = None
            self.recomputed += 1
        else:
            flow_b = item.flow_bwd
        if res is None:
            t0 = time.perf_counter()
            res = estimate_pairs([flow_f], [flow_b], self.K, cfg, [pair_seed(cfg, frame.index)], self.device)[0]
            t_geo = time.perf_counter() - t0
        else:
            t_geo = sum(res.timings.values())
        released = None
        if res.fallback in (DEGENERATE, TOO_FEW_INLIERS) and self.held is not None:
            # The reference was held over the last frames (parallax building up) and this pair lost it:
            # the motion since the reference grew beyond what the flow follows (a fast pan). Start again
            # from the last frame posed against it, its memory carried there.
            held_frame, held_pose, held_gray, held_flow, held_T = self.held
            if self.mem is not None:
                self.mem = carry_memory(self.mem, held_flow, held_T, self.K)
            self.ref = (held_frame, held_pose, held_gray)
            ref_frame, ref_pose, ref_gray = self.ref
            self.held, released = None, res.fallback
            flow_f, flow_b, t_more = self.source.flow(ref_frame, ref_gray, frame, item.gray)
            t_flow += t_more
            t0 = time.perf_counter()
            res = estimate_pairs([flow_f], [flow_b], self.K, cfg, [pair_seed(cfg, frame.index)], self.device)[0]
            t_geo += time.perf_counter() - t0
            self.released += 1
        t_scale = time.perf_counter()
        scale, note, sources = None, None, None
        fused_k = None  # this pair's entry in the scale filter, when its norm is the filter's
        advance = True
        measured = res.fallback is None or res.fallback == PURE_ROTATION  # a motion the constant-motion guess may reuse
        size = max(self.seq.size)
        if res.fallback == NO_MOTION:
            T_rel = np.eye(4)
            advance = False
            self.still_at = frame.index
        elif res.fallback == PURE_ROTATION or (
                res.fallback == DEGENERATE and res.median_flow <= cfg.keyframe_flow_frac * size):
            # Too little parallax so far (or a degenerate F from a short baseline): the pose against
            # the reference's points or depth (_fallback_pose), else rotation-only; keep the
            # reference so that parallax builds up over the next frames, unless the view has
            # already moved far, as in a real panning rotation.
            T_rel, note = self._fallback_pose(res, ref_frame, ref_gray, item.gray, flow_f)
            if T_rel is None:
                T_rel, note = geo.make_pose(res.R, np.zeros(3)), None
            advance = res.median_flow > cfg.keyframe_flow_frac * size
            if advance and self.mem is not None:
                self.mem = carry_memory(self.mem, flow_f, T_rel, self.K)
        elif res.fallback is not None:
            T_rel, note = self._fallback_pose(res, ref_frame, ref_gray, item.gray, flow_f)
            measured = T_rel is not None
            if T_rel is None:
                # over damaged frames too: one last motion per frame of the gap
                T_rel = np.linalg.matrix_power(self.last_motion, 1 + sum(
                    ref_frame.index < s["frame"] < frame.index for s in self.report["skipped_frames"]))
                note = "constant-motion guess" + (f" ({note})" if note else "")
            if self.mem is not None:
                self.mem = carry_memory(self.mem, flow_f, T_rel, self.K)
        else:
            dense = None
            bridge = ref_frame.index < self.skipped_at < frame.index  # the pair spans a damaged frame
            # the two ratios that cross the gap: the bridge's to the pair before it, the next pair's to it
            bridged_ratio = bridge or (self.mem is not None and self.mem_bridge)
            # frames of motion between the pair's two frames (a stop held the reference without moving)
            span = frame.index - max(ref_frame.index, self.still_at)
            if cfg.scale == "rgbd":
                scale, n_used = (np.nan, 0) if ref_frame.depth is None else scale_from_rgbd(
                    ref_frame.depth, res.p1, res.depth1, cfg.min_scale_points)
                note = f"rgbd ({n_used} points)"
            else:
                # One Lucas-Kanade call and one triangulation serve the ratio and the next memory.
                images = (ref_gray, item.gray) if cfg.scale_lk_refine else None
                dense = dense_matches(self.mem, flow_f, res.rigid_score > 0, res.R, res.t, self.K, images,
                                      step=cfg.scale_grid_step, threads=2 if cfg.pipeline else 1,
                                      lk_min_parallax_deg=cfg.scale_lk_min_parallax_deg, backend=cfg.backend)
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
                    r, n_used, thr = ratio_from_dense(self.mem, dense, cfg.min_scale_points,
                                                      bridge_thresholds(cfg.scale_parallax_deg) if bridged_ratio
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
                if ratio is not None:
                    chain_scale, chain_full = self.mem.scale * ratio, chain_note
                else:
                    chain_scale, chain_full = expected, chain_note + (
                        ": previous norm kept" if span == base_span else f": previous speed kept ({span} frames)")
                if cfg.scale == "triangulation":
                    scale, note = chain_scale, chain_full
                elif cfg.scale == "depth":
                    scale, _, note = self.depth.scale(ref_frame, res.p1, res.depth1, _parallax_weights(res),
                                                      cfg.min_scale_points)
                    if not (np.isfinite(scale) and scale > 0):
                        scale, note = chain_scale, f"{note}: the chain's scale instead, {chain_full}"
                else:
                    # the filter predicts from the previous pair's norm (a held keyframe's memory may be older)
                    step_ratio = None if ratio is None else ratio * self.mem.scale / self.last_scale
                    scale, note, sources = self._fused(step_ratio, thr, chain_note, dense, res, ref_frame,
                                                       bridged_ratio)
                    fused_k = len(self.filter.history) - 1
            if not np.isfinite(scale) or scale <= 0:
                scale, note = self.last_scale, (note or "") + "; no usable scale: previous norm kept"
                fused_k = None
            T_rel = geo.make_pose(res.R, res.t * scale)
            # Keyframes: a pair with too little parallax keeps its reference and is posed against the
            # points triangulated in it (PnP), else by its own F; the reference's memory stays, or is
            # made from this pair when there is none.  With a depth sensor (--scale rgbd) a pair under
            # rgbd_pnp_parallax_px is posed against the reference's depth instead: its triangulated
            # depths, which the rgbd norm divides by, are too noisy there (docs/scale.md).
            hold = res.parallax < cfg.keyframe_parallax_px and res.median_flow <= cfg.keyframe_flow_frac * size
            advance = not hold
            on_depth = False
            if cfg.scale == "rgbd" and ref_frame.depth is not None and res.parallax < cfg.rgbd_pnp_parallax_px:
                T_d, note_d = self._depth_pose(res, ref_frame, ref_gray, item.gray, direct=False,
                                               min_share=cfg.rgbd_pnp_min_inlier_share)
                if T_d is not None:  # else the pair keeps its own F pose and rgbd norm
                    T_rel, note, on_depth = T_d, f"{note_d}, low parallax", True
                    scale = float(np.linalg.norm(T_d[:3, 3]))
            if hold and not on_depth and dense is not None:
                T_map, note_map = self._map_pose(ref_frame, flow_f)
                if T_map is not None:
                    T_rel, note = T_map, note_map
                    scale = float(np.linalg.norm(T_map[:3, 3]))
                    fused_k = None
            self.last_scale, self.last_span = float(scale), span
            if dense is not None:
                if not hold:
                    fresh = dense.memory(float(scale), span)
                    if self.mem is not None and (cfg.scale_memory_fill == "always" or (
                            cfg.scale_memory_fill == "sparse" and len(fresh.p) < 0.5 * len(self.mem.p))):
                        fresh = fill_memory(fresh, carry_memory(self.mem, flow_f, T_rel, self.K), cfg.scale_grid_step)
                    self.mem, self.mem_at, self.mem_bridge = fresh, frame.index, bridge
                elif self.mem is None:
                    self.mem, self.mem_at = dense.reference_memory(float(scale), span), frame.index
                    self.mem_bridge = bridge
        res.timings["scale"] = time.perf_counter() - t_scale
        pose, finite = _chain_pose(ref_pose, T_rel)
        if not finite:
            note, advance, T_rel, fused_k = "non-finite motion dropped", False, np.eye(4), None
        self.row_of[frame.index] = len(self.rows)
        self.rows.append({"ref": self.row_of[ref_frame.index], "T": T_rel, "fused": fused_k, "R": res.R, "t": res.t,
                          "pair": len(self.report["pairs"])})
        if measured:
            self.last_motion = T_rel
        self.out.add(frame.timestamp, pose)
        if self.on_frame is not None:
            self.on_frame(frame_event(frame.index, pose, res, scale, (ref_frame, ref_pose), self.K))
        t_total = t_flow + t_geo + (time.perf_counter() - t_scale)
        rec = _pair_record(frame.index, ref_frame.index, res, scale, note, t_flow, t_total)
        if sources is not None:
            rec["scale_sources"] = sources
        if released is not None:
            rec["released_reference"] = released
        if ref_frame.index < self.skipped_at:  # the pair bridges damaged frames: name them
            rec["bridged_over"] = [s["frame"] for s in self.report["skipped_frames"]
                                   if ref_frame.index < s["frame"] < frame.index]
        self.report["pairs"].append(rec)
        if advance:
            self.ref = (frame, pose, item.gray)
            self.source.hint, self.held = None, None
        else:
            self.source.hint = (ref_frame, ref_gray)  # the flow thread pairs the next frames with it
            if res.fallback != NO_MOTION:
                self.held = (frame, pose, item.gray, flow_f, T_rel)
        self.out.flush(self.report)
        self._tick()


def _chunks(items, n: int):
    """Lists of up to ``n`` items; an error of the source ends the current list, then is raised."""
    it = iter(items)
    try:
        while True:
            chunk, error = [], None
            try:
                for item in it:
                    chunk.append(item)
                    if len(chunk) >= n:
                        break
            except BaseException as exc:  # noqa: BLE001 - raised after the items before it
                error = exc
            if chunk:
                yield chunk
            if error is not None:
                raise error
            if len(chunk) < n:
                return
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def run_odometry(seq, cfg: VOConfig, out_dir: Path, progress: Callable | None = None,
                 on_frame: Callable[[dict], None] | None = None, flow_net: Callable | None = None) -> dict:
    """Run VO over ``seq`` and write ``trajectory_kitti.txt``, ``trajectory_tum.txt``, ``report.json``.

    ``seq`` is a :class:`vo_app.io.sequence.Sequence`.  Returns the final report dict.
    ``on_frame``, if given, is called after each posed frame with the dict of
    :func:`vo_app.pipeline.events.frame_event` (index, pose, points_world, colors).
    ``flow_net``, if given, replaces ``cfg.flow``'s backend: a callable ``(image1, image2) ->
    (flow_fwd, flow_bwd)`` (``benchmarks/rotation_bias.py`` passes the renderer's exact flow).
    """
    if cfg.scale == "rgbd" and not seq.has_depth:
        raise UserError("--scale rgbd needs depth images, and this sequence has none", path=seq.root,
                        fix="use --scale triangulation, or add depth/ (KITTI layout) or depth.txt (TUM)")
    if not 1 <= cfg.batch <= MAX_BATCH:
        raise UserError(f"batch size {cfg.batch} out of range", fix=f"use --batch between 1 and {MAX_BATCH}")
    device = resolve_device(cfg.device)
    keep_freed_memory()  # no page faults on every frame's large temporaries (pipeline/alloc.py)
    flow_net = flow_net or make_flow_backend(
        cfg.flow, weights=cfg.weights, dis_preset=cfg.dis_preset, parallel=cfg.pipeline,
        dis_backward_preset=cfg.dis_backward_preset, hybrid_window=cfg.hybrid_window, hybrid_margin=cfg.hybrid_margin)
    K = seq.intrinsics.K
    out = RunOutput(out_dir, cfg.flush_seconds)
    report = {
        "vo_app_version": __version__,
        "sequence": str(seq.root),
        "layout": seq.layout,
        "frames": len(seq),
        "source_indices": [int(i) for i in seq.source_indices],  # rows of the full listing (vo-eval's GT rows)
        "working_size": list(seq.size),
        "intrinsics": {"fx": seq.intrinsics.fx, "fy": seq.intrinsics.fy, "cx": seq.intrinsics.cx, "cy": seq.intrinsics.cy},
        "config": cfg.to_dict(),
        "geometry_backend": geo.backend_name(cfg.backend),
        "device": device,
        "machine": platform.machine(),
        "pairs": [],
        "skipped_frames": [],
        "status": "running",
    }
    # The masks (step 3) run in this thread, not in the flow thread: the flow thread is the longer of
    # the two (benchmarks/README.md, "End-to-end speed").
    source = FlowSource(seq, flow_net, threaded=cfg.pipeline, ahead=max(2, cfg.batch))
    chain = _Chain(seq, cfg, out, report, source, device, progress, on_frame)
    t_start = time.perf_counter()

    chunks = _chunks(source, cfg.batch)
    try:
        for chunk in chunks:
            todo = [i for i, item in enumerate(chunk) if item.flow_fwd is not None]
            results: list[PairResult | None] = [None] * len(chunk)
            if cfg.batch > 1 and todo:  # streaming (batch 1): the chain computes the pair itself
                got = estimate_pairs([chunk[i].flow_fwd for i in todo], [chunk[i].flow_bwd for i in todo], K, cfg,
                                     [pair_seed(cfg, chunk[i].frame.index) for i in todo], device)
                for i, r in zip(todo, got):
                    results[i] = r
            for item, res in zip(chunk, results):
                chain.step(item, res)
    except BaseException as exc:
        # Ctrl-C or an error: the files keep every frame finished so far, and say why they stop there
        interrupted = isinstance(exc, KeyboardInterrupt)
        report["status"] = "interrupted" if interrupted else "failed"
        if not interrupted:
            report["error"] = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        out.flush(report, force=True)
        raise
    finally:
        chunks.close()  # stops the flow thread when the loop ends early (error, Ctrl-C)

    wall = time.perf_counter() - t_start
    pairs = report["pairs"]
    fallbacks: dict[str, int] = {}
    for p in pairs:
        if p.get("fallback"):
            fallbacks[p["fallback"]] = fallbacks.get(p["fallback"], 0) + 1
    report.update(
        status="complete",
        totals={
            "pairs": len(pairs),
            "skipped_frames": len(report["skipped_frames"]),
            "fallbacks": fallbacks,
            "flow_recomputed": chain.recomputed,
            "references_released": chain.released,
            "waited_for_flow_s": round(source.waited, 3),
            "wall_time_s": round(wall, 3),
            "frames_per_s": round(len(seq) / wall, 3) if wall > 0 else None,
            "mean_inliers": float(np.mean([p["inliers"] for p in pairs])) if pairs else 0.0,
        },
    )
    if chain.filter is not None:
        chain.resmooth()
        report["scale_fusion"] = {**chain.filter.summary(), "smoother": cfg.fusion_smoother}
    if chain.depth is not None:
        report["totals"]["depth_not_finite_pairs"] = chain.depth.nan_frames
    out.flush(report, force=True)
    report["frames_written"] = out.complete_rows()
    report["filled_frames"] = out.filled_record()  # kept when the caller rewrites report.json (accuracy)
    return report
