"""A whole batch: skip what already finished in ``--out``, run the rest, write the results table."""
from __future__ import annotations

import time
from pathlib import Path

from ...io.run_folder import run_status
from .jobs import Job
from .progress import BatchProgress


def run_batch(jobs: list[Job], out: "str | Path", workers: int = 1, ray_address: str | None = None,
              progress: bool = True, rerun: bool = False, align: str = "sim3") -> dict:
    """Run ``jobs`` (local processes, or Ray tasks with ``ray_address``) and write the table.

    A job whose folder already holds a ``report.json`` with status ``complete`` is skipped unless
    ``rerun``.  Returns ``{"results": {name: result}, "skipped": [names], "wall_s": s,
    "table": the summary dict, "written": [paths]}``.
    """
    from ...eval.summary_table import summarize, write_summary

    todo = [j for j in jobs if rerun or run_status(j.out_dir) != "complete"]
    skipped = [j.name for j in jobs if j not in todo]
    bar = BatchProgress(len(jobs), skipped=len(skipped), bars=progress)
    for name in skipped:
        bar.note(f"{name}: complete already (report.json), skipped")
    t0 = time.perf_counter()
    try:
        if not todo:
            results = {}
        elif ray_address is not None:
            from .ray_tasks import run_ray

            results = run_ray(todo, ray_address, bar.event)
        else:
            from .local import run_local

            results = run_local(todo, workers, bar.event)
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    table = summarize(Path(out), names=[j.name for j in jobs], align=align)
    written = write_summary(table, Path(out))
    return {"results": results, "skipped": skipped, "wall_s": wall, "table": table, "written": written}
