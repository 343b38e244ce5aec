"""Up to N jobs at once on this machine, one child process per job (``spawn``).

A child that crashes hard (a signal, the out-of-memory killer) takes only its own sequence down:
it is recorded as failed and the next job starts.  Children inherit the thread limits through
the environment (:data:`vo_app.batch.threads.THREAD_ENV`) before they import numpy or torch.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
from contextlib import contextmanager
from typing import Callable

from .jobs import Job
from .threads import THREAD_ENV
from .worker import failed_result, run_job

#: ``on_event(kind, name, data)``: kinds "launch", "start", "frames", "done" (data: the job's result).
OnEvent = Callable[[str, str, dict], None]


def _child(job: Job, q) -> None:
    def emit(kind: str, data: dict) -> None:
        q.put((kind, job.name, data))

    try:
        res = run_job(job, emit)
    except KeyboardInterrupt:
        return
    q.put(("result", job.name, res))


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


def run_local(jobs: list[Job], workers: int, on_event: OnEvent) -> dict[str, dict]:
    """Run ``jobs`` with at most ``workers`` at a time; returns ``{name: result}`` (see :func:`run_job`)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    pending = list(jobs)
    running: dict[str, tuple] = {}
    results: dict[str, dict] = {}

    def handle(item) -> None:
        kind, name, data = item
        if kind == "result":
            results[name] = data
        else:
            on_event(kind, name, data)

    def drain(timeout: float) -> None:
        try:
            handle(q.get(timeout=timeout))
            while True:
                handle(q.get_nowait())
        except queue.Empty:
            pass

    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                job = pending.pop(0)
                with _thread_env(job.threads):
                    proc = ctx.Process(target=_child, args=(job, q), name=f"vo-batch {job.name}")
                    proc.start()
                running[job.name] = (proc, job)
                on_event("launch", job.name, {})
            drain(0.2)
            for name, (proc, job) in list(running.items()):
                if name in results or not proc.is_alive():
                    proc.join(timeout=None if name in results else 5)
                    if name not in results:
                        drain(0.5)  # its last messages may still be in the pipe
                    if name not in results:
                        results[name] = failed_result(job, _death(proc.exitcode))
                    del running[name]
                    on_event("done", name, results[name])
    except BaseException:
        for proc, _ in running.values():
            if proc.is_alive():
                proc.terminate()
        for proc, _ in running.values():
            proc.join(timeout=10)
        raise
    return results
