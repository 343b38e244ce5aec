"""Classical dense flow backend: OpenCV DIS optical flow (no weights needed)."""
from __future__ import annotations

import cv2
import numpy as np

#: name -> (OpenCV base preset, overrides of its parameters).
_PRESETS = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, {}),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, {}),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {}),
    # "fine": medium, down to the full-resolution scale with smaller, denser patches and
    # more variational refinement.  On the synthetic forward-driving renders it halves the
    # end-point error of "medium" and its flow-magnitude bias (which drifts the scale).
    "fine": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
             {"FinestScale": 0, "PatchSize": 8, "PatchStride": 3, "VariationalRefinementIterations": 10}),
    # "fullres": medium's patches, gradient descent and variational refinement cut down (stride 5,
    # 12 iterations, 1 refinement pass) so that it can afford the full-resolution scale.  DIS medium
    # stops at half resolution and under-estimates the large flow of the near road more than the
    # small flow far away, a pitch bias of the pose; down to full resolution, that bias falls about
    # 5x, as with "fine", at medium's cost (docs/scale.md, benchmarks/rotation_bias.py).
    "fullres": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {"FinestScale": 0, "PatchStride": 5, "GradientDescentIterations": 12,
                                                    "VariationalRefinementIterations": 1}),
}
#: the preset names, for command-line choices and config checks (vo_app/pipeline/config.py)
DIS_PRESETS = tuple(_PRESETS)


def to_gray_u8(image: np.ndarray) -> np.ndarray:
    """Float image in [0,1], ``[H,W]`` or ``[H,W,3]`` (RGB), to uint8 gray ``[H,W]``."""
    if image.ndim == 3:
        image = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY)
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


class DISFlow:
    """Forward and backward flow between two frames with OpenCV's DIS.

    ``__call__(img1, img2)`` returns ``(flow_fwd, flow_bwd)``, each ``[H,W,2]``
    float32 (dx, dy) in pixels, with ``img1(p) ~ img2(p + flow_fwd(p))``.
    """

    name = "dis"

    def __init__(self, preset: str = "medium", parallel: bool = False, backward_preset: str | None = None):
        backward_preset = backward_preset or preset
        for p in (preset, backward_preset):
            if p not in _PRESETS:
                raise ValueError(f"unknown DIS preset {p!r}; choose one of {sorted(_PRESETS)}")
        self.preset = preset
        self.backward_preset = backward_preset
        self._dis = self._make(preset)
        # The backward flow only feeds the masks (occlusion, forward-backward score), never a match,
        # so it may use a cheaper preset (``backward_preset``; docs/architecture.md, step 2).
        # parallel: the backward flow on its own DIS object in a helper thread, at the same time as
        # the forward one (DIS itself keeps about one core busy; it releases the GIL).  Each
        # object computes exactly what the single one does (no state is carried between calls).
        self._bwd = self._make(backward_preset) if parallel or backward_preset != preset else None
        self._parallel = parallel
        self._pool = None

    @staticmethod
    def _make(preset: str):
        base, overrides = _PRESETS[preset]
        dis = cv2.DISOpticalFlow_create(base)
        for key, value in overrides.items():
            getattr(dis, "set" + key)(value)
        return dis

    def __call__(self, img1: np.ndarray, img2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.flow_gray(to_gray_u8(img1), to_gray_u8(img2))

    def flow_gray(self, g1: np.ndarray, g2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same on uint8 gray images ``[H,W]`` (as :func:`to_gray_u8` makes them)."""
        if self._bwd is None:
            return self._dis.calc(g1, g2, None), self._dis.calc(g2, g1, None)
        if not self._parallel:
            return self._dis.calc(g1, g2, None), self._bwd.calc(g2, g1, None)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vo-dis")
        bwd = self._pool.submit(self._bwd.calc, g2, g1, None)
        fwd = self._dis.calc(g1, g2, None)
        return fwd, bwd.result()
