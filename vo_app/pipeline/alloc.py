"""Keep freed large blocks in the process instead of handing them back to the kernel (glibc).

The VO loop allocates and frees dozens of arrays of one to a few megabytes per frame (flows,
masks, score maps, dense matches). glibc serves blocks above its mmap threshold with fresh
``mmap`` calls and unmaps them on ``free``, so every such array is page-faulted in again on
each frame: on KITTI at 832x256 the occlusion mask alone took about 5,000 minor faults and
11 ms of system time per frame, for 5 ms of work.  (The C++ kernels recycle their outputs in
``csrc/out_pool.h`` for the same reason.)  :func:`keep_freed_memory` raises the mmap threshold
to its maximum (32 MiB) and the trim threshold, so that such blocks come from the heap and are
reused.  It changes no result, only where the memory comes from; the process keeps its peak
heap (a few hundred MB at most for ``vo-run``).  No-op where the C library is not glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 512 * 1024 * 1024

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds once per process; True when they are set.

    ``VO_APP_MALLOC=default`` leaves the allocator alone (for comparisons).
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("VO_APP_MALLOC", "") == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
