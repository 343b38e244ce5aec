"""The streaming VO loop: flow -> pair geometry -> scale -> chaining (docs/architecture.md, steps 1-10)."""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from .. import geometry as geo
from ..errors import UserError
from ..models import make_flow_backend
from ..models.dis import to_gray_u8
from ..viewer.events import frame_event
from .config import VOConfig
from .output import RunOutput
from .pair import DEGENERATE, NO_MOTION, PURE_ROTATION, PairResult, estimate_pair
from .scale_chain import PairMemory, make_memory, scale_from_previous, scale_from_rgbd


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


def run_odometry(seq, cfg: VOConfig, out_dir: Path, progress: Callable | None = None,
                 on_frame: Callable[[dict], None] | None = None) -> dict:
    """Run VO over ``seq`` and write ``trajectory_kitti.txt``, ``trajectory_tum.txt``, ``report.json``.

    ``seq`` is a :class:`vo_app.io.sequence.Sequence`.  Returns the final report dict.
    ``on_frame``, if given, is called after each posed frame with the dict of
    :func:`vo_app.viewer.events.frame_event` (index, pose, points_world, colors).
    """
    if cfg.scale == "rgbd" and not seq.has_depth:
        raise UserError("--scale rgbd needs depth images, and this sequence has none", path=seq.root,
                        fix="use --scale triangulation, or add depth/ (KITTI layout) or depth.txt (TUM)")
    if cfg.scale == "depth":
        raise UserError("--scale depth needs the depth network, which is not available in this version",
                        fix="use --scale triangulation or --scale rgbd")
    flow_net = make_flow_backend(cfg.flow, weights=cfg.weights, dis_preset=cfg.dis_preset)
    K = seq.intrinsics.K
    out = RunOutput(out_dir, cfg.flush_seconds)
    pairs: list[dict] = []
    skipped: list[dict] = []
    report = {
        "vo_app_version": __version__,
        "sequence": str(seq.root),
        "layout": seq.layout,
        "frames": len(seq),
        "working_size": list(seq.size),
        "intrinsics": {"fx": seq.intrinsics.fx, "fy": seq.intrinsics.fy, "cx": seq.intrinsics.cx, "cy": seq.intrinsics.cy},
        "config": cfg.to_dict(),
        "geometry_backend": "cpp" if geo._ext.use_cpp(cfg.backend) else "reference",
        "machine": platform.machine(),
        "pairs": pairs,
        "skipped_frames": skipped,
        "status": "running",
    }
    ref = None  # (frame, pose_world) of the current reference (key) frame
    mem: PairMemory | None = None
    last_motion = np.eye(4)  # last metric relative motion, for the constant-motion guess
    last_scale = 1.0
    t_start = time.perf_counter()

    for frame in seq:
        if frame.image is None:
            skipped.append({"frame": frame.index, "path": frame.path, "reason": frame.extra.get("error", "unreadable")})
            out.add(frame.timestamp, None)
            if progress:
                progress(1)
            continue
        if ref is None:
            ref = (frame, np.eye(4))
            out.add(frame.timestamp, np.eye(4))
            if on_frame is not None:
                on_frame(frame_event(frame.index, np.eye(4)))
            if progress:
                progress(1)
            continue
        t0 = time.perf_counter()
        flow_f, flow_b = flow_net(ref[0].image, frame.image)
        t_flow = time.perf_counter() - t0
        res = estimate_pair(flow_f, flow_b, K, cfg, seed=(cfg.seed * 1_000_003 + frame.index) % 2**63)
        t_scale = time.perf_counter()
        lk_images = (to_gray_u8(ref[0].image), to_gray_u8(frame.image)) if cfg.scale_lk_refine else None
        scale, note = None, None
        advance = True
        if res.fallback == NO_MOTION:
            T_rel = np.eye(4)
            advance = False
        elif res.fallback == PURE_ROTATION or (
                res.fallback == DEGENERATE and res.median_flow <= cfg.keyframe_flow_frac * max(seq.size)):
            # Too little parallax so far (or a degenerate F from a short baseline): rotation-only
            # pose, and keep the reference so that parallax builds up over the next frames,
            # unless the view has already moved far, as in a real panning rotation.
            T_rel = geo.make_pose(res.R, np.zeros(3))
            advance = res.median_flow > cfg.keyframe_flow_frac * max(seq.size)
            if advance:
                mem = None
        elif res.fallback is not None:
            T_rel = last_motion.copy()
            note = "constant-motion guess"
            mem = None
        else:
            if cfg.scale == "rgbd":
                scale, n_used = (np.nan, 0) if ref[0].depth is None else scale_from_rgbd(
                    ref[0].depth, res.p1, res.depth1, cfg.min_scale_points)
                note = f"rgbd ({n_used} points)"
            else:
                if mem is None:
                    scale, note = last_scale, "no shared points with a previous pair: previous norm kept"
                else:
                    ratio, n_used, thr = scale_from_previous(mem, flow_f, res.rigid_score > 0, res.R, res.t, K,
                                                             cfg.min_scale_points, images=lk_images,
                                                             parallax_deg=tuple(cfg.scale_parallax_deg))
                    if np.isfinite(ratio) and 1.0 / cfg.max_scale_change <= ratio <= cfg.max_scale_change:
                        scale, note = mem.scale * ratio, f"triangulation ({n_used} shared points, parallax >= {thr} deg)"
                    else:
                        scale, note = mem.scale, f"unreliable ratio {ratio:.3g} from {n_used} points: previous norm kept"
            if not np.isfinite(scale) or scale <= 0:
                scale, note = last_scale, (note or "") + "; no usable scale: previous norm kept"
            T_rel = geo.make_pose(res.R, res.t * scale)
            last_scale = float(scale)
            if cfg.scale == "triangulation":
                mem = make_memory(flow_f, res.rigid_score > 0, res.R, res.t, K, float(scale), images=lk_images,
                                  step=cfg.scale_grid_step)
        res.timings["scale"] = time.perf_counter() - t_scale
        pose = ref[1] @ geo.inverse(T_rel)
        if not np.isfinite(pose).all():  # never chain a NaN: hold the reference pose instead
            pose, note, advance = ref[1].copy(), "non-finite motion dropped", False
        if res.fallback is None or res.fallback == PURE_ROTATION:
            last_motion = T_rel
        out.add(frame.timestamp, pose)
        if on_frame is not None:
            on_frame(frame_event(frame.index, pose, res, scale, ref, K))
        pairs.append(_pair_record(frame.index, ref[0].index, res, scale, note, t_flow, time.perf_counter() - t0))
        if advance:
            ref = (frame, pose)
        out.flush(report)
        if progress:
            progress(1)

    wall = time.perf_counter() - t_start
    fallbacks: dict[str, int] = {}
    for p in pairs:
        if p.get("fallback"):
            fallbacks[p["fallback"]] = fallbacks.get(p["fallback"], 0) + 1
    report.update(
        status="complete",
        totals={
            "pairs": len(pairs),
            "skipped_frames": len(skipped),
            "fallbacks": fallbacks,
            "wall_time_s": round(wall, 3),
            "frames_per_s": round(len(seq) / wall, 3) if wall > 0 else None,
            "mean_inliers": float(np.mean([p["inliers"] for p in pairs])) if pairs else 0.0,
        },
    )
    out.flush(report, force=True)
    report["frames_written"] = out.complete_rows()
    return report
