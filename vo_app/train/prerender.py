"""``vo-train cache``: render a config's pool (``data.pool``) into ``runtime.cache_dir`` ahead of training.

Every entry is rendered once, in ``workers`` processes; entries already stored are skipped, so
an interrupted fill continues where it stopped and training can start while it runs (both
write the same files atomically).  See :mod:`vo_app.synth.samples.pool`.
"""
from __future__ import annotations

import multiprocessing as mp
import sys
import time

_JOB: dict = {}


def _init_worker(stage: str, spec, width: int, height: int, cache_dir: str) -> None:
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool
    torch.set_num_threads(1)
    _JOB.update(stage=stage, spec=spec, width=width, height=height, cache_dir=cache_dir)


def _render_one(j: int) -> int:
    if _JOB["stage"] == "flow":
        from ..synth.samples.synthetic import make_sample

        make_sample(_JOB["spec"], j, _JOB["width"], _JOB["height"], _JOB["cache_dir"])
    else:
        from ..synth.samples.depth_synth import make_depth_sample

        make_depth_sample(_JOB["spec"], j, _JOB["width"], _JOB["height"], cache_dir=_JOB["cache_dir"])
    return j


def _cache(stage: str, spec, width: int, height: int, cache_dir: str):
    """The :class:`~vo_app.synth.samples.pool.RenderCache` the stage's training stream reads."""
    if stage == "flow":
        from ..synth.samples.synthetic import render_cache
    else:
        from ..synth.samples.depth_synth import render_cache
    return render_cache(spec, width, height, cache_dir)


def stored(stage: str, spec, width: int, height: int, cache_dir: str) -> list[int]:
    """The pool entries of this stream already in the cache."""
    cache = _cache(stage, spec, width, height, cache_dir)
    return [j for j in range(spec.pool) if cache.path(j).is_file()]


def check_disk(stage: str, spec, width: int, height: int, cache_dir: str, sample: int, remaining: int) -> None:
    """A one-line error when ``remaining`` more entries the size of entry ``sample`` do not fit."""
    import shutil

    from ..errors import UserError

    cache = _cache(stage, spec, width, height, cache_dir)
    try:
        need = int(cache.path(sample).stat().st_size * remaining * 1.05)
        free = shutil.disk_usage(cache.folder).free
    except OSError:
        return
    if need > free:
        raise UserError(f"the pool needs about {need / 1e9:.1f} GB more on disk and {free / 1e9:.1f} GB are free",
                        path=cache.folder, fix="lower data.pool, or pass --cache-dir on a larger disk")


def fill_cache(stage: str, cfg, *, cache_dir: str, workers: int = 1, progress: bool = True) -> dict:
    """Render the entries of ``cfg.data.pool`` that ``cache_dir`` lacks; returns counts and seconds."""
    spec, (w, h) = cfg.data, cfg.image_size
    have = set(stored(stage, spec, w, h, cache_dir))
    todo = [j for j in range(spec.pool) if j not in have]
    t0 = time.perf_counter()
    args = (stage, spec, w, h, str(cache_dir))
    _JOB.update(zip(("stage", "spec", "width", "height", "cache_dir"), args))
    done = 0
    if todo:  # the first entry here: its size says whether the rest fits on the disk
        _render_one(todo[0])
        check_disk(stage, spec, w, h, str(cache_dir), todo[0], len(todo) - 1)
        todo, done = todo[1:], 1
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo) + done, initial=done, unit="render", desc=f"vo-train cache {stage}",
                   dynamic_ncols=True, file=sys.stderr)
    try:
        if workers <= 1:  # in this process, which keeps its Ctrl-C
            for j in todo:
                _render_one(j)
                done += 1
                if bar is not None:
                    bar.update(1)
        elif todo:
            with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=args) as pool:
                for _ in pool.imap_unordered(_render_one, todo, chunksize=4):
                    done += 1
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return {"pool": spec.pool, "stored_before": len(have), "rendered": done, "seconds": time.perf_counter() - t0}
