"""Frames and their flow, read and computed ahead of the VO loop (docs/architecture.md, steps 1-2).

:class:`FlowSource` yields one :class:`FlowItem` per frame, in frame order: the decoded frame,
its uint8 gray image, and the forward/backward flow between a *guessed* reference frame and
it.  The guess is the previous readable frame, or the reference the VO loop is holding on to
when its last pair kept it (:attr:`FlowSource.hint`).  The loop checks the guess against its
actual reference and recomputes the flow when they differ (:meth:`FlowSource.flow`), so the
guess decides how much work is done, never what comes out.

With ``threaded=True`` a background thread computes the flows while the loop works on earlier
pairs, and a second one reads and decodes the frames for it (OpenCV releases the GIL in
decoding, resizing and DIS), at most ``ahead`` items in advance; errors of the reader (and
Ctrl-C raised in it) reach the loop in frame order, after the items before them.
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


class _End:
    pass


@dataclass
class _Failure:
    exc: BaseException


class FlowSource:
    """Iterate ``seq`` as :class:`FlowItem`s; ``flow_net(img1, img2) -> (fwd, bwd)`` computes the flow."""

    def __init__(self, seq, flow_net, *, threaded: bool = True, ahead: int = 2):
        self.seq = seq
        self.flow_net = flow_net
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

    def _frames(self):
        """The frames of ``seq`` with their gray images; threaded: read and decoded one frame ahead in
        a second thread (the flow thread then spends its time in the flow)."""
        def decoded():
            for frame in self.seq:
                yield frame, (None if frame.image is None else to_gray_u8(frame.image))

        if not self.threaded:
            yield from decoded()
            return
        yield from _in_thread(decoded(), 2, "vo-read")

    def _items(self):
        prev = None
        for frame, gray in self._frames():
            if self._stop.is_set():
                return
            if frame.image is None:
                yield FlowItem(frame)
                continue
            if prev is None:
                prev = (frame, gray)
                yield FlowItem(frame, gray)
                continue
            ref, ref_gray = self.hint or prev
            f, b, t = self.flow(ref, ref_gray, frame, gray)
            item = FlowItem(frame, gray, ref, ref_gray, f, b, t)
            yield item
            prev = (frame, gray)

    def __iter__(self):
        if not self.threaded:
            yield from self._items()
            return
        self._stop.clear()
        try:
            yield from _in_thread(self._items(), self.ahead, "vo-flow", self._waited)
        finally:
            self._stop.set()

    def _waited(self, seconds: float) -> None:
        self.waited += seconds


def _in_thread(items, ahead: int, name: str, on_wait=None):
    """Iterate ``items`` in a background thread, at most ``ahead`` items in advance, in order.

    An exception of the thread (Ctrl-C included) is raised here after the items before it.
    Closing this generator stops the thread (it may finish the item it is working on).
    ``on_wait(seconds)`` gets the time spent waiting for each item.
    """
    q: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in items:
                if not put(item):
                    return
            put(_End())
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(_Failure(exc))

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            t0 = time.perf_counter()
            item = q.get()
            if on_wait is not None:
                on_wait(time.perf_counter() - t0)
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join(timeout=10.0)
