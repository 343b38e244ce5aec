"""The run's records (docs/architecture.md, step 10): one trajectory row per input frame
(:class:`~vo_app.pipeline.output.RunOutput`), one ``report.json`` record per pair, the viewer's
events (``events.py``), and the end-of-run rewrite of the rows with the back end's final poses
(:meth:`Recorder.rewrite_poses`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import geometry as geo
from .events import frame_event
from .output import RunOutput
from .pair import PairResult


def chain_pose(ref_pose: np.ndarray, T_rel: np.ndarray) -> tuple[np.ndarray, bool]:
    """The pose ``[4,4]`` of a frame from its reference's pose and the relative motion; a non-finite
    result is never chained: the reference pose is held instead (second value False)."""
    pose = ref_pose @ geo.inverse(T_rel)
    return (pose, True) if np.isfinite(pose).all() else (ref_pose.copy(), False)


def pair_record(frame, ref, res: PairResult | None, scale, scale_note, t_flow, t_total) -> dict:
    """A pair's ``report.json`` record (``scale``: its norm or None)."""
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


class Recorder:
    """Rows, report and events of one run (``report``: the dict ``run_odometry`` writes, with its
    ``pairs`` and ``skipped_frames`` lists; ``on_frame``: the event callback or None;
    ``progress``: called with 1 per frame, or None)."""

    def __init__(self, out: RunOutput, report: dict, K: np.ndarray, progress: Callable | None = None,
                 on_frame: Callable | None = None):
        self.out, self.report, self.K = out, report, K
        self.progress, self.on_frame = progress, on_frame
        # per output row: None (no pose), or the frame it poses (for rewrite_poses)
        self.rows: list[dict | None] = []
        self.row_of: dict[int, int] = {}  # frame index -> output row

    def tick(self) -> None:
        if self.progress:
            self.progress(1)

    def skipped(self, frame) -> None:
        """A frame without an image: listed in the report, its row filled later (``RunOutput``)."""
        self.report["skipped_frames"].append({"frame": frame.index, "path": frame.path,
                                              "reason": frame.extra.get("error", "unreadable")})
        self.out.add(frame.timestamp, None)
        self.rows.append(None)
        self.tick()

    def skipped_between(self, first: int, last: int) -> list[int]:
        """Indices of the frames without an image strictly between frames ``first`` and ``last``."""
        return [s["frame"] for s in self.report["skipped_frames"] if first < s["frame"] < last]

    def first(self, frame) -> None:
        """The first readable frame: the origin."""
        self.row_of[frame.index] = len(self.rows)
        self.rows.append({"frame": frame.index})
        self.out.add(frame.timestamp, np.eye(4))
        if self.on_frame is not None:
            self.on_frame(frame_event(frame.index, np.eye(4)))
        self.tick()

    def pair(self, frame, ref_frame, ref_pose: np.ndarray, pose: np.ndarray, res: PairResult, T_rel: np.ndarray,
             scale, note, t_flow: float, t_total: Callable[[], float],
             sources: dict | None = None, released: str | None = None, bridged: bool = False) -> dict:
        """A posed pair: its row, the event and the report record (returned); ``t_total()`` gives the
        pair's seconds once the event is sent; ``bridged``: the pair spans damaged frames (named)."""
        self.row_of[frame.index] = len(self.rows)
        self.rows.append({"frame": frame.index})
        self.out.add(frame.timestamp, pose)
        if self.on_frame is not None:
            self.on_frame(frame_event(frame.index, pose, res, scale, (ref_frame, ref_pose), self.K))
        rec = pair_record(frame.index, ref_frame.index, res, scale, note, t_flow, t_total())
        if sources is not None:
            rec["scale_sources"] = sources
        if released is not None:
            rec["released_reference"] = released
        if bridged:
            rec["bridged_over"] = self.skipped_between(ref_frame.index, frame.index)
        self.report["pairs"].append(rec)
        return rec

    def done(self) -> None:
        """End of a frame: flush the files (at most every ``flush_seconds``) and tick."""
        self.out.flush(self.report)
        self.tick()

    def rewrite_poses(self, pose_of: Callable[[int], np.ndarray]) -> None:
        """Every posed row's pose replaced by ``pose_of(frame index)`` (the back end's final poses) and
        the output rewritten."""
        self.out.rewrite([None if row is None else pose_of(row["frame"]) for row in self.rows])
