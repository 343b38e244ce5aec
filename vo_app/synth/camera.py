"""Pinhole camera helpers: default intrinsics and per-pixel ray directions."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from vo_app.io.types import Intrinsics

#: KITTI-like focal length relative to the image width (KITTI: 707 px / 1226 px).
DEFAULT_FOCAL_RATIO = 0.58


def default_intrinsics(width: int, height: int, focal_ratio: float = DEFAULT_FOCAL_RATIO) -> Intrinsics:
    """``fx = fy = focal_ratio * width`` with the principal point at the image centre.

    Pixel (0, 0) is the centre of the top-left pixel, so the centre is at
    ``((W - 1) / 2, (H - 1) / 2)``.
    """
    f = float(focal_ratio) * int(width)
    return Intrinsics(fx=f, fy=f, cx=(int(width) - 1) / 2.0, cy=(int(height) - 1) / 2.0,
                      width=int(width), height=int(height))


@lru_cache(maxsize=8)
def _rays(fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> np.ndarray:
    d = np.empty((height, width, 3), np.float32)
    d[..., 0] = ((np.arange(width, dtype=np.float64) - cx) / fx)[None, :]
    d[..., 1] = ((np.arange(height, dtype=np.float64) - cy) / fy)[:, None]
    d[..., 2] = 1.0
    d.setflags(write=False)
    return d


def pixel_rays(intr: Intrinsics) -> np.ndarray:
    """Read-only float32 ``[H, W, 3]`` rays ``((u - cx) / fx, (v - cy) / fy, 1)``.

    A point at z-depth ``z`` along pixel (u, v) is ``z * rays[v, u]`` in the camera frame.
    """
    if intr.dist is not None and any(abs(float(k)) > 0 for k in intr.dist):
        raise ValueError("the synthetic renderer only supports undistorted pinhole cameras")
    return _rays(float(intr.fx), float(intr.fy), float(intr.cx), float(intr.cy), int(intr.width), int(intr.height))
