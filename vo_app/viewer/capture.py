"""Save what an open3d ``Visualizer`` shows as a PNG (atomically)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes


def capture_png(vis, path: "str | os.PathLike[str]") -> tuple[Path, np.ndarray]:
    """Render ``vis`` once and write it to ``path``; returns the path and the ``[H,W,3]`` uint8 RGB image."""
    import cv2

    vis.poll_events()
    vis.update_renderer()
    img = np.asarray(vis.capture_screen_float_buffer(do_render=True))
    rgb = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return atomic_write_bytes(path, buf.tobytes()), rgb
