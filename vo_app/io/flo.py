"""Middlebury ``.flo`` optical-flow files: float32 tag 202021.25, int32 width, int32 height, then
interleaved ``(u, v)`` float32, row-major (little-endian)."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

#: Middlebury .flo magic number.
FLO_TAG = 202021.25


def flo_bytes(flow: np.ndarray) -> bytes:
    """The ``.flo`` file of ``flow [H,W,2]`` (pixels), as bytes (write them with :mod:`vo_app.io.atomic`)."""
    h, w = flow.shape[:2]
    return struct.pack("<fii", FLO_TAG, w, h) + np.ascontiguousarray(flow, dtype="<f4").tobytes()


def read_flo(path) -> np.ndarray:
    """Read a Middlebury .flo file as float32 ``[H, W, 2]``."""
    data = Path(path).read_bytes()
    tag, w, h = struct.unpack("<fii", data[:12])
    if tag != np.float32(FLO_TAG):
        raise ValueError(f"{path}: not a .flo file (bad tag {tag})")
    flow = np.frombuffer(data, "<f4", count=w * h * 2, offset=12)
    return flow.reshape(h, w, 2).copy()
