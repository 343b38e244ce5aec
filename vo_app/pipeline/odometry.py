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
from ..models import make_flow_backend
from .alloc import keep_freed_memory
from .config import VOConfig
from .frontend import FrontEnd, pair_seed
from .keyframes import KeyframePolicy
from .output import RunOutput
from .pair import PairResult, estimate_pairs
from .recorder import Recorder, chain_pose
from .scale_modes import ScaleModes, sources_record
from .source import FlowItem, FlowSource

MAX_BATCH = 256


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


class _Chain:
    """Steps 8-10 in frame order: the front end's pair (``frontend.py``), its pose (the keyframe and
    fallback policy, ``keyframes.py``) and norm (``scale_modes.py``), chained and recorded
    (``recorder.py``)."""

    def __init__(self, seq, cfg: VOConfig, out: RunOutput, report: dict, source: FlowSource, device: str,
                 progress: Callable | None, on_frame: Callable | None):
        self.cfg, self.source = cfg, source
        K = seq.intrinsics.K
        self.depth = None
        if cfg.scale in ("depth", "fused") and cfg.depth_weights:
            from .depth_scale import DepthScale

            self.depth = DepthScale(cfg.depth_weights, K, seq.size)
        self.front = FrontEnd(cfg, K, source, device)
        self.keyframes = KeyframePolicy(cfg, K, max(seq.size), self.depth)
        self.scales = ScaleModes(cfg, K, seq.size, self.depth)
        self.recorder = Recorder(out, report, K, progress, on_frame)
        self.backend = None
        if cfg.window > 0:
            from .backend import WindowBackEnd

            self.absolute = self.scales.window_sources()
            self.backend = WindowBackEnd(cfg, K, seq.size, absolute=bool(self.absolute))

    def step(self, item: FlowItem, res: PairResult | None) -> None:
        """Take the next frame; ``res`` is the speculative geometry of ``item`` (None: not computed)."""
        frame, front, kf, rec = item.frame, self.front, self.keyframes, self.recorder
        if frame.image is None:
            rec.skipped(frame)
            front.skipped_at = frame.index
            return
        if kf.ref is None:
            kf.ref = (frame, np.eye(4), item.gray)
            if self.backend is not None:
                self.backend.start(frame.index)
            rec.first(frame)
            return
        fr = front.pair(item, res, kf.ref[0], kf.ref[2])
        released = kf.release(fr.res, front)
        if released is not None:
            fr = front.repair(fr, kf.ref[0], kf.ref[2])
        ref_frame, ref_pose, ref_gray = kf.ref
        res = fr.res
        t_scale = time.perf_counter()
        scale, note, sources = None, None, None
        absolute = []  # the back end's absolute step lengths of this pair (--window)
        if res.fallback is not None:
            d = kf.without_f(fr, front, len(rec.skipped_between(ref_frame.index, frame.index)))
            T_rel, note, advance, measured = d.T_rel, d.note, d.advance, d.measured
        else:
            measured = True
            front.measure(fr, ref_gray, dense=self.cfg.scale != "rgbd" or self.backend is not None)
            if self.backend is None:
                scale, note = self.scales.norm(fr)
            else:  # the chain's norm is the window's guess; the absolute sources become its factors
                scale, note = fr.chain_scale, fr.chain_full
                absolute = [(name, measure(fr)) for name, measure in self.absolute]
                sources = sources_record(fr, front.step_ratio(fr), absolute)
            if not np.isfinite(scale) or scale <= 0:
                scale, note = front.last_scale, (note or "") + "; no usable scale: previous norm kept"
            T_rel = geo.make_pose(res.R, res.t * scale)
            T_rel, scale, note, hold = kf.with_f(fr, front.mem, T_rel, scale, note)
            advance = not hold
            front.keep_memory(fr, scale, T_rel, hold)
        res.timings["scale"] = time.perf_counter() - t_scale
        pose, finite = chain_pose(ref_pose, T_rel)
        if not finite:
            note, advance, T_rel = "non-finite motion dropped", False, np.eye(4)
        if self.backend is not None:
            pose = self.backend.frame(fr, T_rel, advance, res.fallback is None and finite, absolute)
            ref_pose = self.backend.pose(ref_frame.index)
        rec.pair(frame, ref_frame, ref_pose, pose, res, T_rel, scale, note, fr.t_flow,
                 lambda: fr.t_flow + fr.t_geo + (time.perf_counter() - t_scale), sources=sources, released=released,
                 bridged=ref_frame.index < front.skipped_at)
        kf.finish(fr, pose, T_rel, advance, measured, self.source)
        rec.done()


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
        if chain.backend is not None:
            chain.backend.close(abandon=True)
        out.flush(report, force=True)
        raise
    finally:
        chunks.close()  # stops the flow thread when the loop ends early (error, Ctrl-C)
    if chain.backend is not None:
        chain.backend.close()  # its last solve, then its process stops

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
            "flow_recomputed": chain.front.recomputed,
            "references_released": chain.keyframes.released,
            "waited_for_flow_s": round(source.waited, 3),
            "wall_time_s": round(wall, 3),
            "frames_per_s": round(len(seq) / wall, 3) if wall > 0 else None,
            "mean_inliers": float(np.mean([p["inliers"] for p in pairs])) if pairs else 0.0,
        },
    )
    if chain.backend is not None:  # the trajectory as the window finally left it
        chain.recorder.rewrite_poses(chain.backend.row_pose)
        report["window"] = chain.backend.summary()
    if chain.depth is not None:
        report["totals"]["depth_not_finite_pairs"] = chain.depth.nan_frames
    out.flush(report, force=True)
    report["frames_written"] = out.complete_rows()
    report["filled_frames"] = out.filled_record()  # kept when the caller rewrites report.json (accuracy)
    return report
