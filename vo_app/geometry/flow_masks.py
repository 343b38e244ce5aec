"""Occlusion mask, forward-backward distance and match score from dense flow (NumPy/OpenCV).

Flows are ``[H,W,2]`` float32 in pixels, ``(dx, dy)``; frame 1 -> frame 2 is
"forward".  The same formulas are used by the training losses.
"""
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


def occlusion_mask(flow_bwd: np.ndarray) -> np.ndarray:
    """M_o of frame 1: forward-splat a field of ones along the backward flow, clamp to [0,1].

    Pixels of frame 1 that no pixel of frame 2 lands on are occluded in frame 2.
    Returns ``[H,W]`` float32.
    """
    h, w = flow_bwd.shape[:2]
    tgt = pixel_grid(h, w) + flow_bwd
    x, y = tgt[..., 0].ravel(), tgt[..., 1].ravel()
    x0, y0 = np.floor(x), np.floor(y)
    acc = np.zeros(h * w + 1, np.float64)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1.0 - np.abs(x - xi)) * (1.0 - np.abs(y - yi))
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h) & np.isfinite(wgt)
            idx = np.where(inside, yi * w + xi, h * w).astype(np.int64)
            acc += np.bincount(idx, weights=np.where(inside, wgt, 0.0), minlength=h * w + 1)
    return np.clip(acc[:-1].reshape(h, w), 0.0, 1.0).astype(np.float32)


def forward_backward(flow_fwd: np.ndarray, flow_bwd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-backward distance D_fb ``[H,W]`` and in-image mask ``[H,W]`` (target inside frame 2)."""
    h, w = flow_fwd.shape[:2]
    tgt = pixel_grid(h, w) + flow_fwd
    back = sample_flow(flow_bwd, tgt)
    d = np.linalg.norm(flow_fwd + back, axis=-1)
    inside = (tgt[..., 0] >= 0) & (tgt[..., 0] <= w - 1) & (tgt[..., 1] >= 0) & (tgt[..., 1] <= h - 1)
    return d.astype(np.float32), inside


def match_score(flow_fwd: np.ndarray, flow_bwd: np.ndarray) -> dict[str, np.ndarray]:
    """The sampling score of TrianFlow: ``M_o * M_s`` with ``M_s = 1/(0.1 + D_fb)``, 0 outside.

    Returns a dict with ``occ`` (M_o), ``fb`` (D_fb), ``fb_score`` (M_s, zero where the
    target leaves the image) and ``score`` (M_o * M_s); all ``[H,W]`` float32.
    """
    occ = occlusion_mask(flow_bwd)
    fb, inside = forward_backward(flow_fwd, flow_bwd)
    ms = np.where(inside & np.isfinite(fb), 1.0 / (0.1 + fb), 0.0).astype(np.float32)
    return {"occ": occ, "fb": fb, "fb_score": ms, "score": (occ * ms).astype(np.float32)}


# ---------------------------------------------------------------------------------------------
# The runtime's version of the masks: the same formulas and (up to the order of float64 sums
# in the splat) the same numbers as the reference functions above, which stay as its test
# oracle, in about a fifth of the time: one index array and four bincounts for the splat, one
# cv2.remap call over the whole image, no float64 pixel grids.  NumPy releases the GIL in the
# large array operations and OpenCV in remap, so it runs well next to the flow thread.

def _grid_1d(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)[:, None]


def occlusion_mask_fast(flow_bwd: np.ndarray) -> np.ndarray:
    """:func:`occlusion_mask` (M_o of frame 1, ``[H,W]`` float32) with one index array for the four corners.

    Each pixel's bilinear footprint starts at ``(floor x, floor y)``; the four corner weights are
    accumulated with ``bincount`` over that one index in a frame padded by one pixel (so that a
    footprint starting at -1 still has an index), and the corner images are added shifted, in the
    reference's corner order.  Targets outside, or non-finite, go to a bin that is dropped.  The
    right/bottom weights are the fractional parts ``x - floor x``, which the reference computes as
    ``1 - |x - (floor x + 1)|``: the same number except for a last-bit rounding left of x = 1 or
    above y = 1 (tested to 1e-6).
    """
    h, w = flow_bwd.shape[:2]
    gx, gy = _grid_1d(h, w)
    x = flow_bwd[..., 0] + gx
    y = flow_bwd[..., 1] + gy
    W2, H2 = w + 2, h + 2
    with np.errstate(invalid="ignore"):  # non-finite flow: NaN weights and cast garbage, sent to the dropped bin
        x0, y0 = np.floor(x), np.floor(y)
        ax, ay = np.subtract(x, x0, out=x), np.subtract(y, y0, out=y)  # the fractional parts, in place
        ix, iy = x0.astype(np.intp), y0.astype(np.intp)
        ok = (x0 >= -1) & (x0 < w) & (y0 >= -1) & (y0 < h)  # False for NaN
    iy += 1
    iy *= W2
    iy += ix
    iy += 1  # (y0 + 1) * (w + 2) + (x0 + 1): the footprint's index in the padded frame
    pidx = np.where(ok, iy, H2 * W2).ravel()  # one extra bin for the pixels that land nowhere
    bx, by = 1.0 - ax, 1.0 - ay
    n = H2 * W2 + 1

    def acc(wx, wy):
        return np.bincount(pidx, weights=(wx * wy).ravel(), minlength=n)[:-1].reshape(H2, W2)

    A = acc(bx, by)                     # corner (x0,     y0)
    A[1:] += acc(bx, ay)[:-1]           # corner (x0,     y0 + 1)
    A[:, 1:] += acc(ax, by)[:, :-1]     # corner (x0 + 1, y0)
    A[1:, 1:] += acc(ax, ay)[:-1, :-1]  # corner (x0 + 1, y0 + 1)
    return np.clip(A[1:h + 1, 1:w + 1], 0.0, 1.0).astype(np.float32)


def forward_backward_fast(flow_fwd: np.ndarray, flow_bwd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`forward_backward` (D_fb and the in-image mask) with one ``cv2.remap`` over the image."""
    h, w = flow_fwd.shape[:2]
    gx, gy = _grid_1d(h, w)
    tx = flow_fwd[..., 0] + gx
    ty = flow_fwd[..., 1] + gy
    back = cv2.remap(np.ascontiguousarray(flow_bwd), tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    s = flow_fwd + back
    d = np.sqrt(s[..., 0] * s[..., 0] + s[..., 1] * s[..., 1])
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return d, inside


def match_score_fast(flow_fwd: np.ndarray, flow_bwd: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`match_score` for the runtime (same keys and formulas; tested against it)."""
    occ = occlusion_mask_fast(flow_bwd)
    fb, inside = forward_backward_fast(flow_fwd, flow_bwd)
    with np.errstate(divide="ignore", invalid="ignore"):
        ms = np.where(inside & np.isfinite(fb), 1.0 / (0.1 + fb), 0.0).astype(np.float32)
    return {"occ": occ, "fb": fb, "fb_score": ms, "score": (occ * ms).astype(np.float32)}
