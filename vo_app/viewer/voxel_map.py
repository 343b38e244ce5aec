"""An accumulated, voxel-downsampled coloured point cloud (NumPy only).

At most one point per voxel is kept: the first one that fell into it.  When the
map would exceed ``max_points``, the voxel grows by ``growth`` and the map is
downsampled again, so memory and drawing cost stay bounded on long runs.
"""
from __future__ import annotations

import numpy as np

_BITS = 21  # per axis: +-2^20 voxels
_OFF = 1 << (_BITS - 1)
_MASK = (1 << _BITS) - 1


class VoxelMap:
    """Points ``[M,3]`` float32 and colours ``[M,3]`` float32 in [0,1], one per voxel.

    Args:
        voxel_size: voxel edge (scene units); None: 1% of the median distance of
            the first batch to its camera (``origin``), so any scene scale works.
        max_points: cap on the number of points (the voxel grows past it).
    """

    def __init__(self, voxel_size: float | None = None, max_points: int = 200_000, growth: float = 1.5):
        self.voxel_size = voxel_size
        self.max_points = int(max_points)
        self.growth = float(growth)
        self.points = np.zeros((0, 3), np.float32)
        self.colors = np.zeros((0, 3), np.float32)
        self._keys = np.zeros(0, np.int64)  # sorted voxel keys of the stored points

    def __len__(self) -> int:
        return len(self.points)

    def _key(self, pts: np.ndarray) -> np.ndarray:
        q = np.floor(pts / self.voxel_size).astype(np.int64) + _OFF
        q &= _MASK
        return (q[:, 0] << (2 * _BITS)) | (q[:, 1] << _BITS) | q[:, 2]

    def add(self, points: np.ndarray, colors: np.ndarray | None = None, origin: np.ndarray | None = None) -> int:
        """Add ``points [N,3]`` (``colors [N,3]``, grey if None); returns how many new voxels were filled."""
        pts = np.asarray(points, np.float32).reshape(-1, 3)
        ok = np.isfinite(pts).all(axis=1)
        pts = pts[ok]
        if len(pts) == 0:
            return 0
        cols = np.full((len(pts), 3), 0.7, np.float32) if colors is None else \
            np.asarray(colors, np.float32).reshape(-1, 3)[ok]
        if self.voxel_size is None:
            centre = np.zeros(3) if origin is None else np.asarray(origin, np.float64)
            med = float(np.median(np.linalg.norm(pts - centre, axis=1)))
            self.voxel_size = max(0.01 * med, 1e-6)
        keys = self._key(pts)
        keys, first = np.unique(keys, return_index=True)  # one per voxel within the batch
        known = np.zeros(len(keys), bool)
        if len(self._keys):
            pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            known = self._keys[pos] == keys
        new = np.sort(first[~known])
        self.points = np.concatenate([self.points, pts[new]])
        self.colors = np.concatenate([self.colors, cols[new]])
        fresh = keys[~known]  # sorted, so one O(N) insert keeps the key array sorted
        self._keys = np.insert(self._keys, np.searchsorted(self._keys, fresh), fresh)
        while len(self.points) > self.max_points:
            self._regrid(self.voxel_size * self.growth)
        return int(len(new))

    def _regrid(self, voxel_size: float) -> None:
        self.voxel_size = voxel_size
        keys, first = np.unique(self._key(self.points), return_index=True)
        first.sort()  # keep the oldest point of each voxel, in insertion order
        self.points, self.colors = self.points[first], self.colors[first]
        self._keys = keys  # np.unique returned them sorted
