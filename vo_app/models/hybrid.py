"""Hybrid flow backend ``pwc+dis``: the network's flow initialises OpenCV DIS.

OpenCV's DIS uses the flow array passed to ``calc`` as its initial flow when that array has
the image's size and type ``float32 x 2``: the coarse-to-fine patch search then starts from
the network's flow instead of zero.  The network handles the large motions; DIS's patch search
and variational refinement keep the sub-pixel precision.

With ``window > 0`` (the default, 9) plain DIS (started from zero) runs as well and each pixel
keeps the flow whose warped second image matches the first better (absolute gray difference
averaged over a ``window x window`` box); ``window = 0`` keeps the initialised DIS flow alone.
This covers pixels where the network is wrong and pulls DIS away from its own answer.
``margin`` (``hybrid_margin``) favours plain DIS: the initialised result must warp better by
that fraction to be kept (negative: favours the initialised result).  Measured in docs/learned_models.md,
"The hybrid backend".

Without network weights the backend is plain DIS, with a one-line warning (``make_flow_backend``).
"""
from __future__ import annotations

import cv2
import numpy as np

from .dis import DISFlow, to_gray_u8


def warp_error(g1: np.ndarray, g2: np.ndarray, flow: np.ndarray, window: int = 9) -> np.ndarray:
    """Box-averaged ``|I2(p + flow(p)) - I1(p)|`` of gray images ``[H,W]``; flow ``[H,W,2]`` -> ``[H,W]``."""
    if g1.shape != g2.shape or flow.shape != g1.shape + (2,):
        raise ValueError(f"shapes differ: images {g1.shape} {g2.shape}, flow {flow.shape} (want [H,W,2])")
    h, w = g1.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(g2.astype(np.float32), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return cv2.blur(np.abs(warped - g1.astype(np.float32)), (window, window))


def select_flow(g1: np.ndarray, g2: np.ndarray, candidates: list[np.ndarray], window: int = 9,
                margin: float = 0.0) -> np.ndarray:
    """Per pixel, the candidate flow ``[H,W,2]`` with the smallest :func:`warp_error` (ties: the first).

    ``margin`` favours the first candidate: a later one must have an error below ``(1 - margin)``
    times the first one's to be chosen.
    """
    errs = np.stack([warp_error(g1, g2, f, window) for f in candidates], 0)
    errs[0] *= 1.0 - float(margin)
    best = np.argmin(errs, axis=0)
    out = candidates[0].copy()
    for i in range(1, len(candidates)):
        m = best == i
        out[m] = candidates[i][m]
    return out


class HybridFlow:
    """Forward and backward flow: network (``PWCFlow``) -> DIS initialised with it [-> selection].

    ``__call__(img1, img2)`` -> ``(flow_fwd, flow_bwd)`` like :class:`vo_app.models.dis.DISFlow`.
    """

    name = "pwc+dis"

    def __init__(self, network, preset: str = "medium", window: int = 9, margin: float = 0.0):
        if window < 0 or (window and window % 2 == 0):
            raise ValueError(f"selection window must be 0 (off) or odd and positive, got {window}")
        if not -1.0 < margin < 1.0:
            raise ValueError(f"selection margin must be in (-1, 1), got {margin}")
        self.network = network
        self.preset = preset
        self.window, self.margin = window, margin
        # Two DIS objects: one that has been given an initial flow reuses it on later calls
        # even when passed None (measured with OpenCV 5.0), so plain DIS needs its own.
        self._dis = DISFlow._make(preset)
        self._plain = DISFlow._make(preset)

    def refine(self, g1: np.ndarray, g2: np.ndarray, init: np.ndarray) -> np.ndarray:
        """DIS from ``init`` ``[H,W,2]`` (copied; DIS writes its result into the array it is given)."""
        if init.shape != g1.shape + (2,):
            raise ValueError(f"initial flow {init.shape} does not match the image {g1.shape}")
        flow = np.ascontiguousarray(init, dtype=np.float32).copy()
        out = self._dis.calc(g1, g2, flow)
        if self.window:
            out = select_flow(g1, g2, [self._plain.calc(g1, g2, None), out], self.window, self.margin)
        return out

    def __call__(self, img1: np.ndarray, img2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fwd, bwd = self.network(img1, img2)
        g1, g2 = to_gray_u8(img1), to_gray_u8(img2)
        return self.refine(g1, g2, fwd), self.refine(g2, g1, bwd)
