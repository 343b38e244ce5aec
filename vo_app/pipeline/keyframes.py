"""The keyframe and fallback policy of the chain (docs/architecture.md, step 8; docs/running.md, "Fallbacks").

:class:`KeyframePolicy` keeps the chain's reference (key) frame and decides, per pair:

- hold or advance: a pair with too little parallax (``keyframe_parallax_px``) keeps its
  reference while the flow stays small (``keyframe_flow_frac`` of the image), so that parallax
  builds up; a ``no_motion`` pair always keeps it;
- the pose where F gives none (:meth:`KeyframePolicy.without_f`): PnP on the points the chain
  triangulated in the reference (the front end's memory), PnP (+ photometric refinement) on
  the reference's depth (sensor or network), rotation only, or the constant-motion guess;
- the pose of a held pair posed by its F (:meth:`KeyframePolicy.with_f`): PnP on the memory, or
  with a depth sensor under ``rgbd_pnp_parallax_px``, PnP on the reference's depth;
- a released reference (:meth:`KeyframePolicy.release`): a held reference that a later pair
  lost (a fast pan) gives way to the last frame posed against it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import geometry as geo
from .config import VOConfig
from .frontend import FrontEnd, FrontRecord, pair_seed
from .pair import DEGENERATE, NO_MOTION, PURE_ROTATION, TOO_FEW_INLIERS, PairResult
from .scale_chain import PairMemory, depth_at


@dataclass
class PoseDecision:
    """The relative motion of a pair without a pose from F: ``T_rel [4,4]`` (metric, reference ->
    frame), a note (None: none), whether the reference ``advance``s, and whether the motion was
    ``measured`` (the constant-motion guess may reuse it)."""

    T_rel: np.ndarray
    note: str | None
    advance: bool
    measured: bool


class KeyframePolicy:
    """The reference frame, the held frame and the fallbacks of one run (``size``: max of W, H;
    ``depth``: a :class:`~vo_app.pipeline.depth_scale.DepthScale` or None)."""

    def __init__(self, cfg: VOConfig, K: np.ndarray, size: int, depth=None):
        self.cfg, self.K, self.size, self.depth = cfg, K, size, depth
        self.ref = None  # (frame, pose_world, gray) of the current reference (key) frame
        # the last frame posed against the held reference: (frame, pose_world, gray, flow ref -> it, T_rel)
        self.held: tuple | None = None
        self.released = 0
        self.last_motion = np.eye(4)  # last metric relative motion, for the constant-motion guess

    # -- reference ------------------------------------------------------------------------------
    def release(self, res: PairResult, front: FrontEnd) -> str | None:
        """When the reference was held over the last frames (parallax building up) and ``res`` lost
        it (degenerate, too few inliers): the motion since the reference grew beyond what the flow
        follows (a fast pan).  The last frame posed against it becomes the reference, the memory
        carried there; returns the lost pair's fallback (None: nothing released)."""
        if res.fallback not in (DEGENERATE, TOO_FEW_INLIERS) or self.held is None:
            return None
        held_frame, held_pose, held_gray, held_flow, held_T = self.held
        front.carry(held_flow, held_T)
        self.ref = (held_frame, held_pose, held_gray)
        self.held = None
        self.released += 1
        return res.fallback

    def hold(self, res: PairResult) -> bool:
        """A pair posed by F keeps its reference: too little parallax, the flow still small."""
        cfg = self.cfg
        return res.parallax < cfg.keyframe_parallax_px and res.median_flow <= cfg.keyframe_flow_frac * self.size

    def finish(self, fr: FrontRecord, pose: np.ndarray, T_rel: np.ndarray, advance: bool, measured: bool,
               source) -> None:
        """After the pair is posed: the frame becomes the reference, or the reference is kept (the
        flow thread ``source`` is told to pair the next frames with it)."""
        if measured:
            self.last_motion = T_rel
        if advance:
            self.ref = (fr.frame, pose, fr.gray)
            source.hint, self.held = None, None
        else:
            ref_frame, _, ref_gray = self.ref
            source.hint = (ref_frame, ref_gray)  # the flow thread pairs the next frames with it
            if fr.res.fallback != NO_MOTION:
                self.held = (fr.frame, pose, fr.gray, fr.flow_f, T_rel)

    # -- poses -----------------------------------------------------------------------------------
    def without_f(self, fr: FrontRecord, front: FrontEnd, gap: int) -> PoseDecision:
        """The pose of a pair whose F gave none (``fr.res.fallback`` set); ``gap``: damaged frames
        between the reference and the frame (the constant-motion guess spans them too)."""
        cfg, res = self.cfg, fr.res
        ref_frame, _, ref_gray = self.ref
        measured = res.fallback is None or res.fallback == PURE_ROTATION
        if res.fallback == NO_MOTION:
            front.still_at = fr.frame.index
            return PoseDecision(np.eye(4), None, False, measured)
        if res.fallback == PURE_ROTATION or (
                res.fallback == DEGENERATE and res.median_flow <= cfg.keyframe_flow_frac * self.size):
            # Too little parallax so far (or a degenerate F from a short baseline): the pose against
            # the reference's points or depth (fallback_pose), else rotation-only; keep the
            # reference so that parallax builds up over the next frames, unless the view has
            # already moved far, as in a real panning rotation.
            T_rel, note = self.fallback_pose(res, ref_frame, ref_gray, fr.gray, fr.flow_f, front.mem)
            if T_rel is None:
                T_rel, note = geo.make_pose(res.R, np.zeros(3)), None
            advance = res.median_flow > cfg.keyframe_flow_frac * self.size
            if advance:
                front.carry(fr.flow_f, T_rel)
            return PoseDecision(T_rel, note, advance, measured)
        T_rel, note = self.fallback_pose(res, ref_frame, ref_gray, fr.gray, fr.flow_f, front.mem)
        measured = T_rel is not None
        if T_rel is None:
            # over damaged frames too: one last motion per frame of the gap
            T_rel = np.linalg.matrix_power(self.last_motion, 1 + gap)
            note = "constant-motion guess" + (f" ({note})" if note else "")
        front.carry(fr.flow_f, T_rel)
        return PoseDecision(T_rel, note, True, measured)

    def with_f(self, fr: FrontRecord, mem: PairMemory | None, T_rel: np.ndarray, scale: float,
               note: str | None) -> tuple[np.ndarray, float, str | None, bool]:
        """A pair posed by F with norm ``scale``: ``(T_rel, scale, note, hold)``; where the pose came
        from PnP instead, its norm is PnP's (the note says which).  With a depth
        sensor (--scale rgbd) a pair under ``rgbd_pnp_parallax_px`` is posed against the reference's
        depth: its triangulated depths, which the rgbd norm divides by, are too noisy there
        (docs/scale.md); else a held pair is posed against the points triangulated in the
        reference (PnP), when the front end made dense matches."""
        cfg, res = self.cfg, fr.res
        ref_frame, _, ref_gray = self.ref
        hold = self.hold(res)
        on_depth = False
        if cfg.scale == "rgbd" and ref_frame.depth is not None and res.parallax < cfg.rgbd_pnp_parallax_px:
            T_d, note_d = self.depth_pose(res, ref_frame, ref_gray, fr.gray, direct=False,
                                          min_share=cfg.rgbd_pnp_min_inlier_share)
            if T_d is not None:  # else the pair keeps its own F pose and rgbd norm
                T_rel, note, on_depth = T_d, f"{note_d}, low parallax", True
                scale = float(np.linalg.norm(T_d[:3, 3]))
        if hold and not on_depth and fr.dense is not None:
            T_map, note_map = self.map_pose(mem, ref_frame, fr.flow_f)
            if T_map is not None:
                T_rel, note = T_map, note_map
                scale = float(np.linalg.norm(T_map[:3, 3]))
        return T_rel, scale, note, hold

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

    def depth_pose(self, res: PairResult, ref_frame, ref_gray, gray, direct: bool = True,
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

    def fallback_pose(self, res: PairResult, ref_frame, ref_gray, gray, flow_f: np.ndarray,
                      mem: PairMemory | None):
        """Where F gives no pose: PnP against the sensor's depth (``--scale rgbd``), else against the
        points the chain triangulated in the reference frame (``mem``), else against the depth
        network's depth; ``(None, why)`` when none works.  The network's depth comes last: its
        relative depth errors turn a sideways step into a yaw (docs/running.md, "Fallbacks")."""
        sources = [lambda: self.map_pose(mem, ref_frame, flow_f),
                   lambda: self.depth_pose(res, ref_frame, ref_gray, gray)]
        if self.cfg.scale == "rgbd" and ref_frame.depth is not None:
            sources.reverse()
        why = None
        for pose in sources:
            T, note = pose()
            if T is not None:
                return T, note
            why = why or note
        return None, why

    def map_pose(self, mem: PairMemory | None, ref_frame, flow_f: np.ndarray) -> tuple[np.ndarray | None, str | None]:
        """The pose of a frame against the points the chain triangulated in its reference frame
        (``mem``, depths times their pair's norm): PnP on their flow matches, well posed even
        when this pair's own parallax is small."""
        cfg = self.cfg
        if mem is None or len(mem.p) < cfg.min_inliers:
            return None, None
        q = mem.p + geo.sample_flow(flow_f, mem.p.astype(np.float32)).astype(np.float64)
        pnp = self._pnp(mem.p, q, mem.depth * mem.scale, ref_frame)
        if not pnp.ok:
            return None, "PnP on the triangulated points failed"
        return pnp.T, f"pnp on the reference's triangulated points ({int(pnp.inliers.sum())} inliers)"
