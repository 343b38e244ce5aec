"""Pixel grids and bilinear look-ups in a dense flow (NumPy/OpenCV; no kernel: used at run time
by the scale chain and the depth fallback, and by the reference code)."""
from __future__ import annotations

import cv2
import numpy as np


def pixel_grid(h: int, w: int) -> np.ndarray:
    """``[H,W,2]`` float32 pixel coordinates (x, y) of the pixel centres."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs, ys], -1)


def sample_flow(flow: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Bilinearly sample ``flow [H,W,2]`` at ``coords [...,2]`` (x, y); outside -> border value."""
    shp = coords.shape
    flat = coords.reshape(-1, 2).astype(np.float32)
    n = flat.shape[0]
    if n == 0:
        return np.zeros(shp[:-1] + (flow.shape[-1],), flow.dtype)
    cols = 1024  # OpenCV maps must stay below 32767 on each side
    pad = (-n) % cols
    c = np.concatenate([flat, np.zeros((pad, 2), np.float32)]).reshape(-1, cols, 2)
    out = cv2.remap(flow, c[..., 0], c[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, flow.shape[-1])[:n].reshape(shp[:-1] + (flow.shape[-1],))
