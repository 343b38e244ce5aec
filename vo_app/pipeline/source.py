"""Frames and their flow, read and computed ahead of the VO loop (docs/architecture.md, steps 1-2).

:class:`FlowSource` yields one :class:`FlowItem` per frame, in frame order: the decoded frame,
its uint8 gray image, and the forward/backward flow between a *guessed* reference frame and
it.  The guess is the previous readable frame, or the reference the VO loop is holding on to
when its last pair kept it (:attr:`FlowSource.hint`).  The loop checks the guess against its
actual reference and recomputes the flow when they differ (:meth:`FlowSource.flow`), so the
guess decides how much work is done, never what comes out.

With ``threaded=True`` a background thread reads the frames and computes the flows while the
loop works on earlier pairs (OpenCV releases the GIL in decoding, resizing and DIS), at most
``ahead`` items in advance; errors of the reader (and Ctrl-C raised in it) reach the loop in
frame order, after the items before them.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..models.dis import to_gray_u8


@dataclass
class FlowItem:
    """One frame and its flow against ``ref`` (None: the frame has no image, or no earlier readable frame)."""

    frame: object
    gray: np.ndarray | None = None
    ref: object | None = None
    ref_gray: np.ndarray | None = None
    flow_fwd: np.ndarray | None = None
    flow_bwd: np.ndarray | None = None
    t_flow: float = 0.0
    score: np.ndarray | None = None  # the sampling score M_o * M_s of the pair, when the source computes it
    t_score: float = 0.0


class _End:
    pass


@dataclass
class _Failure:
    exc: BaseException


class FlowSource:
    """Iterate ``seq`` as :class:`FlowItem`s; ``flow_net(img1, img2) -> (fwd, bwd)`` computes the flow."""

    def __init__(self, seq, flow_net, *, threaded: bool = True, ahead: int = 2, score_fn=None):
        self.seq = seq
        self.flow_net = flow_net
        self.score_fn = score_fn  # (flow_fwd, flow_bwd) -> score [H,W]: step 3 in this thread too
        self.threaded = threaded
        self.ahead = max(1, int(ahead))
        self.hint: tuple | None = None  # (frame, gray) of the reference the loop keeps, or None
        self._lock = threading.Lock()  # one flow computation at a time (DIS objects are not thread-safe)
        self._stop = threading.Event()
        self.waited = 0.0  # seconds the loop waited for the flow thread (threaded only)

    def flow(self, ref, ref_gray, frame, gray) -> tuple[np.ndarray, np.ndarray, float]:
        """Forward and backward flow ``ref -> frame`` and the seconds it took (waiting excluded)."""
        with self._lock:
            t0 = time.perf_counter()
            if hasattr(self.flow_net, "flow_gray"):
                f, b = self.flow_net.flow_gray(ref_gray, gray)
            else:
                f, b = self.flow_net(ref.image, frame.image)
            return f, b, time.perf_counter() - t0

    def _items(self):
        prev = None
        for frame in self.seq:
            if self._stop.is_set():
                return
            if frame.image is None:
                yield FlowItem(frame)
                continue
            gray = to_gray_u8(frame.image)
            if prev is None:
                prev = (frame, gray)
                yield FlowItem(frame, gray)
                continue
            ref, ref_gray = self.hint or prev
            f, b, t = self.flow(ref, ref_gray, frame, gray)
            item = FlowItem(frame, gray, ref, ref_gray, f, b, t)
            if self.score_fn is not None:
                t0 = time.perf_counter()
                item.score = self.score_fn(f, b)
                item.t_score = time.perf_counter() - t0
            yield item
            prev = (frame, gray)

    def __iter__(self):
        if not self.threaded:
            yield from self._items()
            return
        q: queue.Queue = queue.Queue(maxsize=self.ahead)
        self._stop.clear()

        def put(x) -> bool:
            while not self._stop.is_set():
                try:
                    q.put(x, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def work():
            try:
                for item in self._items():
                    if not put(item):
                        return
                put(_End())
            except BaseException as exc:  # noqa: BLE001 - handed to the loop, raised there
                put(_Failure(exc))

        thread = threading.Thread(target=work, name="vo-flow", daemon=True)
        thread.start()
        try:
            while True:
                t0 = time.perf_counter()
                item = q.get()
                self.waited += time.perf_counter() - t0
                if isinstance(item, _End):
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            self._stop.set()
            thread.join(timeout=10.0)
