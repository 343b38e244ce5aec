"""Environment for rendering with open3d next to VO (set before open3d opens a window)."""
from __future__ import annotations

import os
import tempfile


def prepare_render_env(background: bool = False) -> None:
    """One software-render thread and one OpenMP thread, a private ``XDG_RUNTIME_DIR`` when there is none
    (silences a libGL warning), and with ``background`` a lower CPU priority."""
    os.environ.setdefault("LP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = os.path.join(tempfile.gettempdir(), f"vo_app-xdg-{os.getuid()}")
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = path
        except OSError:
            pass
    if background:
        try:
            os.nice(10)
        except OSError:
            pass
