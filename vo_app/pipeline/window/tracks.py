"""Tracks over keyframes: the flow-followed points of the scale chain, with an id each.

The scale chain (``pipeline/scale_chain.py``) carries a memory of points from pair to pair: a
point of the memory that the next pair's rigid mask keeps (forward-backward check, occlusion
and the M_r inlier map, ``PairResult.rigid_score > 0``) and that Lucas-Kanade keeps is matched
again in the next frame.  Giving every point an id when it is first sampled makes those chains
tracks.  :class:`TrackStore` keeps the observations ``(id, pixel)`` of the keyframes still in
the window and nothing older, so its memory stays flat over a run.  Only every ``stride``-th id
is kept: the window uses a few hundred tracks, not the tens of thousands the chain follows.
"""
from __future__ import annotations

import numpy as np


def strided(ids: np.ndarray, px: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The observations ``ids [N]`` (int64), ``px [N,2]`` (float64) of the ids that a store of ``stride``
    keeps (``id % stride == 0``); ``remote.py`` sends only these to the window's process."""
    ids = np.asarray(ids, np.int64)
    px = np.asarray(px, np.float64)
    if ids.ndim != 1 or px.shape != (len(ids), 2):
        raise ValueError(f"ids [N] and px [N,2] expected, got {ids.shape} and {px.shape}")
    # a power of two: the low bits (the same test as %, negative ids included, 4x faster)
    keep = np.flatnonzero((ids & (stride - 1) if stride & (stride - 1) == 0 else ids % stride) == 0)
    return np.take(ids, keep), np.take(px, keep, axis=0)


class TrackStore:
    """Observations of tracks in the keyframes of the window.

    ``stride``: keep ids with ``id % stride == 0`` (ids are handed out in raster order per pair,
    so this keeps a spread subset).
    """

    def __init__(self, stride: int = 8):
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.stride = int(stride)
        self.next_id = 0
        self._obs: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # keyframe -> (sorted ids [N], px [N,2])

    def new_ids(self, n: int) -> np.ndarray:
        """``[n]`` fresh int64 ids."""
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        return ids

    def observe(self, kf: int, ids: np.ndarray, px: np.ndarray) -> None:
        """Observations of ``ids [N]`` at pixels ``px [N,2]`` in keyframe ``kf``; an id already seen in
        ``kf`` keeps its first pixel."""
        ids, px = strided(ids, px, self.stride)
        if kf in self._obs:
            old_ids, old_px = self._obs[kf]
            ids, px = np.concatenate([old_ids, ids]), np.concatenate([old_px, px])
        ids, first = np.unique(ids, return_index=True)
        self._obs[kf] = (ids, np.take(px, first, axis=0))

    def keyframes(self) -> list[int]:
        """The keyframes with observations, oldest first."""
        return sorted(self._obs)

    def drop_before(self, kf: int) -> None:
        """Forget the keyframes before ``kf`` (they left the window)."""
        for k in [k for k in self._obs if k < kf]:
            del self._obs[k]

    def tracks(self, kfs: list[int], min_obs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tracks seen in at least ``min_obs`` of ``kfs``: ``ids [T]`` (ascending), ``px [T,K,2]`` and
        ``seen [T,K]`` (K = len(kfs), in the order of ``kfs``; ``px`` is 0 where not seen)."""
        per = [self._obs[k] for k in kfs if k in self._obs and len(self._obs[k][0])]
        cols = [j for j, k in enumerate(kfs) if k in self._obs and len(self._obs[k][0])]
        if not per:
            return np.zeros(0, np.int64), np.zeros((0, len(kfs), 2)), np.zeros((0, len(kfs)), bool)
        # every id kept is a multiple of the stride: an id's slot in a table from the lowest to the highest
        # id is (id - lo) / stride, and counting over the table replaces sorting all the observations
        # (1.7 of a 22 ms KITTI keyframe); a table much larger than the observations falls back to the sort
        lo = min(int(kid[0]) for kid, _ in per)
        size = (max(int(kid[-1]) for kid, _ in per) - lo) // self.stride + 1
        n_obs = sum(len(kid) for kid, _ in per)
        if size > 4 * n_obs + 4096:
            return self._tracks_sorted(per, cols, len(kfs), min_obs)
        slot = (np.concatenate([kid for kid, _ in per]) - lo) // self.stride  # [N], all the observations
        count = np.bincount(slot, minlength=size)  # ids are unique within a keyframe
        take = np.flatnonzero(count >= max(min_obs, 1))
        row = np.full(size, -1, np.int64)
        row[take] = np.arange(len(take))
        r = np.take(row, slot)
        hit = np.flatnonzero(r >= 0)
        K = len(kfs)
        col = np.repeat(np.asarray(cols, np.int64), [len(kid) for kid, _ in per])
        cell = np.take(r, hit) * K + np.take(col, hit)  # [M] of the tracks' [T*K] observation slots
        # a pixel as one complex128 (x + iy): numpy 2.4 indexes 1-D arrays 10x faster than [N,2] rows
        allpx = np.concatenate([kpx for _, kpx in per]).view(np.complex128).ravel()
        px = np.zeros(len(take) * K, np.complex128)
        px[cell] = np.take(allpx, hit)
        seen = np.zeros(len(take) * K, bool)
        seen[cell] = True
        return take * self.stride + lo, px.view(np.float64).reshape(len(take), K, 2), seen.reshape(len(take), K)

    @staticmethod
    def _tracks_sorted(per: list, cols: list[int], K: int, min_obs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`tracks` by sorting all the observations (``per``: the keyframes' ``(ids, px)``, ``cols``
        their columns)."""
        uniq, count = np.unique(np.concatenate([ids for ids, _ in per]), return_counts=True)
        ids = uniq[count >= min_obs]
        px = np.zeros((len(ids), K, 2))
        seen = np.zeros((len(ids), K), bool)
        for j, (kid, kpx) in zip(cols, per):
            pos = np.clip(np.searchsorted(kid, ids), 0, len(kid) - 1)
            hit = kid[pos] == ids
            px[hit, j] = kpx[pos[hit]]
            seen[hit, j] = True
        return ids, px, seen

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self._obs.values())
