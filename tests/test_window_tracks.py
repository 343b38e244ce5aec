"""TrackStore.tracks (vo_app/pipeline/window/tracks.py) against a plain per-id count.

The store counts observations in a table indexed by ``(id - lowest) / stride`` and falls back to
sorting when the ids are spread too thin for a table; both must give what counting id by id gives.
"""
from __future__ import annotations

import numpy as np
import pytest

from vo_app.pipeline.window.tracks import TrackStore


def reference(obs: dict[int, dict[int, np.ndarray]], kfs: list[int], min_obs: int):
    """``obs``: keyframe -> {id: pixel [2]} as the store should hold it -> (ids, px, seen) by counting."""
    count: dict[int, int] = {}
    for k in kfs:
        for i in obs.get(k, {}):
            count[i] = count.get(i, 0) + 1
    ids = np.array(sorted(i for i, n in count.items() if n >= max(min_obs, 1)), np.int64)
    px = np.zeros((len(ids), len(kfs), 2))
    seen = np.zeros((len(ids), len(kfs)), bool)
    for t, i in enumerate(ids.tolist()):
        for j, k in enumerate(kfs):
            if i in obs.get(k, {}):
                px[t, j], seen[t, j] = obs[k][i], True
    return ids, px, seen


@pytest.mark.parametrize("spread", [40, 5_000, 10**9])  # dense ids, a few per slot, too thin for a table
@pytest.mark.parametrize("stride", [1, 3, 8])
def test_tracks_count_like_a_plain_count(spread, stride):
    rng = np.random.default_rng(spread + stride)
    store = TrackStore(stride=stride)
    obs: dict[int, dict[int, np.ndarray]] = {}
    for k in range(6):
        for _ in range(2):  # a keyframe observed twice (as a pair's reference, then as its current frame)
            ids = rng.integers(-spread // 4, spread, 300)
            px = rng.uniform(0, 500, (300, 2))
            store.observe(k, ids, px)
            for i, p in zip(ids.tolist(), px):
                if i % stride == 0:  # kept ids; an id already seen keeps its first pixel
                    obs.setdefault(k, {}).setdefault(i, p)
    shared = 0  # tracks seen in more than one keyframe, over the cases
    for kfs in ([0, 1, 2, 3, 4, 5], [2, 3, 4, 5, 9], [5]):
        for min_obs in (1, 2, 3):
            got = store.tracks(kfs, min_obs)
            want = reference(obs, kfs, min_obs)
            for g, w in zip(got, want):
                assert g.shape == w.shape and g.dtype == w.dtype
                np.testing.assert_array_equal(g, w)
            shared += int((want[2].sum(1) > 1).sum())
    assert shared > 0 or spread == 10**9  # the dense cases do have tracks


def test_no_observations_give_empty_tracks():
    store = TrackStore(stride=4)
    ids, px, seen = store.tracks([0, 1], 2)
    assert ids.shape == (0,) and px.shape == (0, 2, 2) and seen.shape == (0, 2)
