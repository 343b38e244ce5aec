"""Run one job: ``vo-run``'s own command on one sequence, in the process that calls it.

The run is ``vo-run SEQUENCE --out DIR --quiet [--run-args]`` through :func:`vo_app.cli.run.cli`, so a
batch picks the preset, layout and options exactly as ``vo-run`` does.  A :class:`RunHooks` object
(click's ``ctx.obj``) writes the ground truth of the selected frames once the sequence is open and
passes frame progress on.  What ``vo-run`` prints goes to ``vo-run.log`` in the job's folder.  Any
failure becomes ``error.json`` and a ``failed`` result: it never escapes to stop other jobs
(Ctrl-C does).
"""
from __future__ import annotations

import contextlib
import os
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import UserError
from ...io import atomic_write_json, write_kitti
from ...io.run_folder import ERROR, GROUND_TRUTH, LOG, REPORT, read_json
from .jobs import Job
from .threads import pin_threads

#: ``emit(kind, data)``: ``("start", {"frames": N, "pid": worker pid})`` then ``("frames", {"n": k})`` as frames finish.
Emit = Callable[[str, dict], None]

PROGRESS_EVERY_S = 0.25  # frame counts are sent at most this often (a Ray queue put is a remote call)


class RunHooks:
    """What ``vo-run`` calls back (see ``hooks`` in :mod:`vo_app.cli.run`)."""

    def __init__(self, out_dir: Path, emit: Emit | None):
        self.out_dir, self.emit = out_dir, emit
        self.frames = None
        self._pending, self._last = 0, 0.0

    def opened(self, seq) -> None:
        self.frames = len(seq)
        gt = None if seq.gt_poses is None else np.asarray(seq.gt_poses, np.float64)
        if gt is not None and np.isfinite(gt).all():
            write_kitti(self.out_dir / GROUND_TRUTH, gt)
        if self.emit is not None:
            self.emit("start", {"frames": self.frames, "pid": os.getpid()})

    def progress(self, n: int = 1) -> None:
        self._pending += n
        now = time.monotonic()
        if self.emit is not None and now - self._last >= PROGRESS_EVERY_S:
            self.flush()
            self._last = now

    def flush(self) -> None:
        if self.emit is not None and self._pending:
            self.emit("frames", {"n": self._pending})
        self._pending = 0


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_job(job: Job, emit: Emit | None = None) -> dict:
    """Run ``job``; returns ``{"name", "status": "complete" | "failed", "error", "frames", "seconds"}``."""
    pin_threads(job.threads)  # before vo-run's modules load the libraries
    import click

    from ..run import cli as vo_run

    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (ERROR, GROUND_TRUTH):
        (out / stale).unlink(missing_ok=True)
    hooks = RunHooks(out, emit)
    args = [job.sequence, "--out", str(out), "--quiet", *job.run_args]
    error = None
    t0 = time.perf_counter()
    with open(out / LOG, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        print("vo-run " + " ".join(args), flush=True)
        print("threads: " + ", ".join(f"{k} {v}" for k, v in _threads().items()), flush=True)
        try:
            vo_run.main(args=args, prog_name="vo-run", standalone_mode=False, obj=hooks)
        except UserError as e:
            error = f"vo-run: error: {e}"
        except click.UsageError as e:
            error = f"vo-run: error: {e.format_message()}"
        except click.exceptions.Abort:
            raise KeyboardInterrupt from None
        except Exception as e:  # a crash: recorded, the other sequences go on
            traceback.print_exc()
            error = f"crash: {type(e).__name__}: {e}"
        if error is not None:
            print(error, flush=True)
    hooks.flush()
    seconds = time.perf_counter() - t0
    if error is None and (read_json(out / REPORT) or {}).get("status") != "complete":
        error = f"vo-run ended without a complete report.json (see {LOG})"
    if error is not None:
        error = _one_line(error)
        atomic_write_json(out / ERROR, {"status": "failed", "error": error, "sequence": job.sequence})
    return {"name": job.name, "status": "failed" if error else "complete", "error": error,
            "frames": hooks.frames, "seconds": round(seconds, 3), "pid": os.getpid(), "threads": _threads()}


def _threads() -> dict:
    """The thread settings this process ran with (for the record and the tests)."""
    import cv2
    import torch

    from ... import _core

    return {"torch": torch.get_num_threads(), "cv2": cv2.getNumThreads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "kernels": _core.default_threads()}


def failed_result(job: Job, error: str) -> dict:
    """The record of a job whose worker died or never reported (written by the one that noticed)."""
    error = _one_line(error)
    Path(job.out_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(job.out_dir) / ERROR, {"status": "failed", "error": error, "sequence": job.sequence})
    return {"name": job.name, "status": "failed", "error": error, "frames": None, "seconds": None, "pid": None}
