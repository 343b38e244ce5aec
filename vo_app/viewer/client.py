"""The VO side of the live viewer: an ``on_frame`` callback that never blocks VO.

Events go to the viewer process (spawn context) through a bounded queue.  When
the queue is full the update is not sent; its poses and points wait in a
pending batch that rides with the next update that fits (points beyond
``max_pending`` are dropped).  If the viewer fails to start, the reason is
reported once through ``on_problem`` and the callback becomes a no-op; if the
user closes the window, the run goes on without it.
"""
from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
from typing import Callable

import numpy as np

from .availability import display_problem, open3d_installed


#: seconds the end of a run waits for a viewer that has not yet said whether it started
STARTUP_TIMEOUT_S = 30.0

class LiveViewer:
    """``viewer(event)`` per frame; ``viewer.finish()`` at the end of the run.

    Args:
        K: ``[3,3]`` intrinsics and ``size``: ``(W, H)`` of the working images (for the frustum).
        on_problem: called once with a one-line reason when the viewer cannot run.
        close_at_end: close the window when the run ends instead of waiting for the user.
        queue_size: bound of the update queue.
        snapshot: a PNG path where the viewer saves its final view (docs, tests).
        gt_poses: ``[N,4,4]`` ground truth of the sequence's frames (row = event index), drawn in green.
    """

    def __init__(self, K: np.ndarray, size: tuple[int, int], title: str = "vo_app",
                 on_problem: Callable[[str], None] | None = None, close_at_end: bool = False,
                 queue_size: int = 4, max_pending: int = 100_000, snapshot: str | None = None,
                 gt_poses: np.ndarray | None = None):
        self.options = {"K": np.asarray(K, np.float64), "size": tuple(int(v) for v in size), "title": title,
                        "close_at_end": bool(close_at_end), "snapshot": snapshot,
                        "gt_poses": None if gt_poses is None else np.asarray(gt_poses, np.float64)}
        self.on_problem = on_problem or (lambda msg: None)
        self.queue_size, self.max_pending = queue_size, max_pending
        self.proc = None
        self.active = False
        self.sent = self.dropped = 0
        self._reported = False
        self._heard = False  # the viewer process has said "ready" or why it could not start
        self._pending_poses: list[np.ndarray] = []
        self._pending_idx: list[int] = []
        self._pending_pts: list[np.ndarray] = []
        self._pending_cols: list[np.ndarray] = []

    def start(self) -> bool:
        """Spawn the viewer process; False (after one ``on_problem`` line) when it cannot run here."""
        reason = display_problem() or (None if open3d_installed() else
                                       "open3d is not installed (pip install open3d, or install vo_app with its "
                                       "[viewer] extra)")
        if reason:
            self.on_problem(reason)
            return False
        from .live import viewer_main

        ctx = mp.get_context("spawn")
        self.updates = ctx.Queue(maxsize=self.queue_size)
        self.updates.cancel_join_thread()  # never hang VO's exit on a viewer that went away
        self.status = ctx.Queue()
        self.proc = ctx.Process(target=viewer_main, args=(self.updates, self.status, self.options),
                                name="vo_app-viewer", daemon=False)
        self.proc.start()
        self.active = True
        return True

    def _read_status(self, timeout: float = 0.0) -> None:
        """Report a start-up failure of the viewer process (once); with ``timeout``, wait that long for
        its first word (``ready`` or an error) if it has not said it yet."""
        try:
            while True:
                if timeout > 0 and not self._heard:
                    kind, msg = self.status.get(timeout=timeout)
                else:
                    kind, msg = self.status.get_nowait()
                self._heard = True
                if kind == "error" and not self._reported:
                    self._reported = True
                    self.active = False
                    self.on_problem(msg)
        except queue_mod.Empty:
            pass

    def _check(self) -> bool:
        """False once the viewer failed to start or its window was closed."""
        if not self.active:
            return False
        self._read_status()
        if self.active and not self.proc.is_alive():
            self.active = False
        return self.active

    def running(self, startup_timeout: float = STARTUP_TIMEOUT_S) -> bool:
        """Whether the viewer process is up (it may be, or have been, closed by the user).  A viewer that
        has not said yet whether it started (a loaded machine, a short run) gets ``startup_timeout``
        seconds to say it, so that a failed start is reported before the run says it is waiting."""
        if self.active and not self._heard:
            self._read_status(timeout=startup_timeout)
        return self._check()

    def __call__(self, event: dict) -> None:
        if not self._check():
            return
        self._pending_poses.append(np.asarray(event["pose"], np.float64))
        self._pending_idx.append(int(event["index"]))
        pts = event.get("points_world")
        if pts is not None and len(pts):
            cols = event.get("colors")
            cols = np.full((len(pts), 3), 180, np.uint8) if cols is None else \
                np.clip(np.rint(np.asarray(cols) * 255.0), 0, 255).astype(np.uint8)
            self._pending_pts.append(np.asarray(pts, np.float32))
            self._pending_cols.append(cols)
            while sum(len(p) for p in self._pending_pts) > self.max_pending and len(self._pending_pts) > 1:
                self.dropped += len(self._pending_pts.pop(0))
                self._pending_cols.pop(0)
        self._send()

    def _pending_batch(self) -> dict:
        return {"poses": np.stack(self._pending_poses), "indices": np.asarray(self._pending_idx, np.int64),
                "points": np.concatenate(self._pending_pts) if self._pending_pts else None,
                "colors": np.concatenate(self._pending_cols) if self._pending_cols else None}

    def _send(self) -> None:
        try:
            self.updates.put_nowait(("update", self._pending_batch()))
        except queue_mod.Full:
            return  # the viewer is behind: keep the batch, VO goes on
        self.sent += 1
        self._pending_poses, self._pending_idx, self._pending_pts, self._pending_cols = [], [], [], []

    def finish(self, wait: bool = True, timeout: float = 5.0) -> None:
        """Send what is pending and the end of the run; with ``wait``, block until the window closes."""
        if self.proc is None:
            return
        if self._check():
            if self._pending_poses:
                try:
                    self.updates.put(("update", self._pending_batch()), timeout=timeout)
                except queue_mod.Full:
                    pass
            try:
                self.updates.put(("done", None), timeout=timeout)
            except queue_mod.Full:
                pass
        if wait and self.proc.is_alive() and not self.options["close_at_end"]:
            try:
                self.proc.join()
            except KeyboardInterrupt:  # Ctrl+C closes the viewer; the outputs are complete already
                self.proc.terminate()
                self.proc.join(timeout)
        else:
            # a requested snapshot is an output: give a slow (loaded) machine time to draw it
            self.proc.join(max(timeout, 60.0) if self.options.get("snapshot") else timeout)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(timeout)
        self._read_status()  # a failure that came after the last frame
        self.active = False
