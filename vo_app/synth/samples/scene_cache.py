"""A small per-process LRU cache of rendered-scene objects (scenes and their trajectories are
costly to build and are reused by many samples of a stream)."""
from __future__ import annotations

from collections import OrderedDict


class LRU:
    """``get(key, build)``: the cached value of ``key``, else ``build()`` stored (oldest dropped past ``size``)."""

    def __init__(self, size: int):
        self.size = int(size)
        self._data: "OrderedDict" = OrderedDict()

    def get(self, key, build):
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = build()
        self._data[key] = value
        while len(self._data) > self.size:
            self._data.popitem(last=False)
        return value
