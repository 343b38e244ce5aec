"""How many threads one worker uses: the same setting for a serial, a process-pool and a Ray run.

``2 workers x 2 threads`` on 2 cores would oversubscribe; the default gives each of N workers
``cores // N`` threads.  The setting reaches torch (intra- and inter-op), OpenCV (DIS flow) and,
through the environment, OpenMP, MKL, OpenBLAS and vo_app's C++ geometry kernels (``VO_NUM_THREADS``,
read by ``csrc/cpu/parallel.h`` at the first kernel call).  Not reached: the one background thread a
run uses for the flow (``--pipeline``).
"""
from __future__ import annotations

import os

THREAD_ENV = ("VO_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(workers: int) -> int:
    """Threads per worker so that ``workers`` of them fill this machine's cores once."""
    return max(1, usable_cores() // max(1, int(workers)))


def pin_threads(n: int) -> None:
    """Limit this process to ``n`` threads per library; call before the run imports torch if possible."""
    n = max(1, int(n))
    for name in THREAD_ENV:
        os.environ[name] = str(n)
    import cv2
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # only settable before the first inter-op work in this process
        pass
    cv2.setNumThreads(n)
