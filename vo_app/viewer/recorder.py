"""``on_frame`` helpers in the VO process: record the map for ``map.ply``, fan events out."""
from __future__ import annotations

from typing import Callable

from .voxel_map import VoxelMap


class MapRecorder:
    """Accumulates each event's ``points_world``/``colors`` into a :class:`VoxelMap`."""

    def __init__(self, voxel_size: float | None = None, max_points: int = 500_000):
        self.map = VoxelMap(voxel_size, max_points)

    def __call__(self, event: dict) -> None:
        if event.get("points_world") is not None:
            self.map.add(event["points_world"], event.get("colors"), origin=event["pose"][:3, 3])


def fan_out(callbacks: list[Callable[[dict], None]]) -> Callable[[dict], None] | None:
    """One ``on_frame`` that calls each of ``callbacks`` in turn (None when there are none)."""
    callbacks = [c for c in callbacks if c is not None]
    if not callbacks:
        return None

    def on_frame(event: dict) -> None:
        for cb in callbacks:
            cb(event)

    return on_frame
