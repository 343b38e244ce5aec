"""Plain data types shared by the readers, the pipeline and the writers."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics for images of size ``width`` x ``height``.

    Pixel coordinates follow the project convention: (0, 0) is the centre of
    the top-left pixel.  ``dist`` holds OpenCV distortion coefficients
    (k1, k2, p1, p2[, k3...]) or ``None`` for an undistorted camera.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    dist: tuple[float, ...] | None = None

    @property
    def K(self) -> np.ndarray:
        """The 3x3 float64 calibration matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> "Intrinsics":
        """Intrinsics for the same camera after resizing the image to ``width`` x ``height``.

        With pixel centres at integer coordinates, a resize by ``s`` maps
        ``x -> (x + 0.5) * s - 0.5``.
        """
        sx = width / self.width
        sy = height / self.height
        return replace(
            self,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            width=int(width),
            height=int(height),
        )


@dataclass
class Frame:
    """One image of a sequence, already resized to the working size.

    Attributes:
        index: position in the selected (start/stride/max-frames) sequence, 0..N-1.
        source_index: position in the folder's full, unselected order.
        timestamp: seconds; real when the data has timestamps, else ``index / fps``.
        image: float32 ``[H, W]`` (gray) or ``[H, W, 3]`` (RGB), values in [0, 1].
        depth: float32 ``[H, W]`` metric depth, 0 where invalid, or ``None``.
        path: the image file the frame came from.
    """

    index: int
    source_index: int
    timestamp: float
    image: np.ndarray
    depth: np.ndarray | None
    path: str
    extra: dict = field(default_factory=dict)
