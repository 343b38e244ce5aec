"""Up to N jobs at once on this machine, in N worker processes (``spawn``) that each run job after job.

A worker that crashes hard (a signal, the out-of-memory killer) takes only its current sequence
down: that one is recorded as failed and a fresh worker takes the next job.  Workers inherit the
thread limits through the environment (:data:`vo_app.cli.batching.threads.THREAD_ENV`) before they
import numpy or torch.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from contextlib import contextmanager
from typing import Callable

from .jobs import Job
from .threads import THREAD_ENV
from .worker import failed_result, run_job

#: ``on_event(kind, name, data)``: kinds "launch", "start", "frames", "done" (data: the job's result).
OnEvent = Callable[[str, str, dict], None]


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when vo-batch dies, even by SIGKILL (no orphan keeps writing
    into --out while a rerun starts); elsewhere the worker only notices between jobs."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker(jobs, events, parent: int) -> None:
    """A worker process: run the jobs its queue gives it until it gets None (or vo-batch is gone)."""
    _die_with_parent()
    while True:
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return
            continue
        if job is None:
            return

        def emit(kind: str, data: dict, name=job.name) -> None:
            events.put((kind, name, data))

        try:
            res = run_job(job, emit)
        except KeyboardInterrupt:
            return
        events.put(("result", job.name, res))


@contextmanager
def _thread_env(threads: int):
    old = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({k: str(threads) for k in THREAD_ENV})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"the worker process was killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"the worker process exited with code {code} before reporting"


class _Slot:
    """One worker process, its own job queue, and the job it is running (None: idle)."""

    def __init__(self, ctx, threads: int, index: int):
        # its own events queue: a worker killed while its feeder thread holds the queue's write lock
        # (SIGKILL right after it said "start") leaves that lock taken, and a queue shared with the
        # next worker then blocked it forever (tests/test_batch.py hung in CI on a loaded machine)
        self.jobs, self.events = ctx.Queue(), ctx.Queue()
        with _thread_env(threads):
            self.proc = ctx.Process(target=_worker, args=(self.jobs, self.events, os.getpid()),
                                    name=f"vo-batch worker {index}")
            self.proc.start()
        self.job: Job | None = None


def run_local(jobs: list[Job], workers: int, on_event: OnEvent) -> dict[str, dict]:
    """Run ``jobs`` with at most ``workers`` at a time; returns ``{name: result}`` (see :func:`run_job`)."""
    ctx = mp.get_context("spawn")
    pending = list(jobs)
    results: dict[str, dict] = {}
    threads = jobs[0].threads if jobs else 1
    slots: list[_Slot] = []

    def handle(item) -> None:
        kind, name, data = item
        if kind == "result":
            results[name] = data
            for s in slots:
                if s.job is not None and s.job.name == name:
                    s.job = None
            on_event("done", name, data)
        else:
            on_event(kind, name, data)

    def drain(timeout: float, only: "_Slot | None" = None) -> None:
        """Handle every waiting event of the workers (or of ``only``), waiting up to ``timeout`` for one."""
        end = time.monotonic() + timeout
        while True:
            got = False
            for s in ([only] if only is not None else list(slots)):
                try:
                    while True:
                        handle(s.events.get_nowait())
                        got = True
                except queue.Empty:
                    pass
            if got or time.monotonic() >= end:
                return
            time.sleep(0.02)

    try:
        while pending or any(s.job is not None for s in slots):
            for i, s in enumerate(slots):  # a dead worker: its job failed; a fresh one replaces it
                if not s.proc.is_alive():
                    drain(0.5, only=s)  # its last messages may still be in the pipe
                    if s.job is not None:
                        res = failed_result(s.job, _death(s.proc.exitcode))
                        results[s.job.name] = res
                        on_event("done", s.job.name, res)
                        s.job = None
                    slots[i] = _Slot(ctx, threads, i) if pending else s
            while len(slots) < min(max(1, workers), len(jobs)):
                slots.append(_Slot(ctx, threads, len(slots)))
            for s in slots:
                if s.job is None and pending and s.proc.is_alive():
                    s.job = pending.pop(0)
                    s.jobs.put(s.job)
                    on_event("launch", s.job.name, {})
            drain(0.2)
    except BaseException:
        for s in slots:
            if s.proc.is_alive():
                s.proc.terminate()
        raise
    finally:
        for s in slots:
            if s.proc.is_alive():
                s.jobs.put(None)
        for s in slots:
            s.proc.join(timeout=10)
            if s.proc.is_alive():
                s.proc.kill()
    return results
