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
        ids = np.asarray(ids, np.int64)
        px = np.asarray(px, np.float64)
        if ids.ndim != 1 or px.shape != (len(ids), 2):
            raise ValueError(f"ids [N] and px [N,2] expected, got {ids.shape} and {px.shape}")
        keep = ids % self.stride == 0
        ids, px = ids[keep], px[keep]
        if kf in self._obs:
            old_ids, old_px = self._obs[kf]
            ids, px = np.concatenate([old_ids, ids]), np.concatenate([old_px, px])
        ids, first = np.unique(ids, return_index=True)
        self._obs[kf] = (ids, px[first])

    def keyframes(self) -> list[int]:
        """The keyframes with observations, oldest first."""
        return sorted(self._obs)

    def drop_before(self, kf: int) -> None:
        """Forget the keyframes before ``kf`` (they left the window)."""
        for k in [k for k in self._obs if k < kf]:
            del self._obs[k]

    def tracks(self, kfs: list[int], min_obs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tracks seen in at least ``min_obs`` of ``kfs``: ``ids [T]``, ``px [T,K,2]`` and ``seen [T,K]``
        (K = len(kfs), in the order of ``kfs``; ``px`` is 0 where not seen)."""
        per = [self._obs.get(k, (np.zeros(0, np.int64), np.zeros((0, 2)))) for k in kfs]
        allids = np.concatenate([ids for ids, _ in per]) if per else np.zeros(0, np.int64)
        uniq, count = np.unique(allids, return_counts=True)
        ids = uniq[count >= min_obs]
        px = np.zeros((len(ids), len(kfs), 2))
        seen = np.zeros((len(ids), len(kfs)), bool)
        for j, (kid, kpx) in enumerate(per):
            if not len(kid):
                continue
            pos = np.clip(np.searchsorted(kid, ids), 0, len(kid) - 1)
            hit = kid[pos] == ids
            px[hit, j] = kpx[pos[hit]]
            seen[hit, j] = True
        return ids, px, seen

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self._obs.values())
