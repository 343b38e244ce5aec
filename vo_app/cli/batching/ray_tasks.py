"""The jobs as Ray tasks on an existing cluster (``vo-batch --ray ADDRESS``; extra ``vo_app[cluster]``).

Ray does the distribution; nothing here schedules.  Each task runs :func:`run_job` into a temporary
folder on its node and returns the folder's files; the driver writes them into ``--out``, so only
the *inputs* must sit on storage every node sees (the same path everywhere), and vo_app must be
installed on every node.  A task asks Ray for ``job.threads`` CPUs and runs with the same thread
limits as a local worker (passed in its ``runtime_env``).  Frame progress travels through a
``ray.util.queue.Queue``.
"""
from __future__ import annotations

import dataclasses
import shutil
import socket
import tempfile
from pathlib import Path

from ...errors import UserError
from ...io import atomic_write_bytes
from .jobs import Job
from .local import OnEvent
from .threads import THREAD_ENV
from .worker import failed_result, run_job


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray, which is not installed",
                        fix="pip install 'vo_app[cluster]' (or pip install ray), or run without --ray") from None
    return ray


def connect(address: str):
    """``ray.init`` unless this process is already connected: ``local`` starts a Ray on this machine,
    anything else (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``) joins that cluster."""
    ray = import_ray()
    if not ray.is_initialized():
        _check_reachable(address)
        try:
            ray.init(address=None if address == "local" else address, log_to_driver=False,
                     include_dashboard=False)
        except ConnectionError as e:
            raise UserError(f"cannot reach the Ray cluster at {address!r} ({str(e).splitlines()[0]})",
                            fix="start it (ray start --head) or give its address, or --ray local") from None
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that takes no TCP connection is a one-line error at once
    (``ray.init`` would retry for minutes)."""
    if address in ("local", "auto"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray {address!r} is not an address", fix="give auto, local, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise UserError(f"cannot reach the Ray cluster at {address!r} ({e.strerror or e})",
                        fix="start it (ray start --head) or check the address, or use --ray local") from None


def _task(job: Job, events) -> tuple[dict, dict[str, bytes]]:
    """On a Ray worker: run ``job`` into a temporary folder; return its result and files."""
    def emit(kind: str, data: dict) -> None:
        events.put_nowait((kind, job.name, data))

    tmp = Path(tempfile.mkdtemp(prefix="vo-batch-"))
    try:
        res = run_job(dataclasses.replace(job, out_dir=str(tmp / job.name)), emit)
        root = tmp / job.name
        files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res, files


def _write_back(job: Job, files: dict[str, bytes]) -> None:
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from ...io.run_folder import ERROR, GROUND_TRUTH

    for stale in (ERROR, GROUND_TRUTH):
        if stale not in files:
            (out / stale).unlink(missing_ok=True)
    for rel, data in files.items():
        atomic_write_bytes(out / rel, data)


def run_ray(jobs: list[Job], address: str, on_event: OnEvent) -> dict[str, dict]:
    """Run every job as one Ray task; returns ``{name: result}`` with the files written into ``--out``."""
    ray = connect(address)
    from ray.util.queue import Empty, Queue

    events = Queue()
    remote = ray.remote(_task)
    refs = {}
    for job in jobs:
        env = {k: str(job.threads) for k in THREAD_ENV}
        ref = remote.options(num_cpus=job.threads, max_retries=0, name=f"vo-batch {job.name}",
                             runtime_env={"env_vars": env}).remote(job, events)
        refs[ref] = job
        on_event("launch", job.name, {})
    results: dict[str, dict] = {}

    def drain() -> None:
        while True:
            try:
                kind, name, data = events.get_nowait()
            except Empty:
                return
            on_event(kind, name, data)

    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.2)
            drain()
            for ref in ready:
                job = refs.pop(ref)
                try:
                    res, files = ray.get(ref)
                    _write_back(job, files)
                except Exception as e:  # the task's worker died, or the files could not be written back
                    res = failed_result(job, f"Ray task failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                res["name"] = job.name
                results[job.name] = res
                on_event("done", job.name, res)
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        try:
            ray.kill(events.actor)
        except Exception:
            pass
    return results
