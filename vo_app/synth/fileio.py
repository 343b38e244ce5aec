"""Atomic file writing and the small file formats of the synthetic layouts (``.flo``: :mod:`vo_app.io.flo`)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..io.atomic import atomic_write_bytes

_PNG_ARGS = [cv2.IMWRITE_PNG_COMPRESSION, 1]


def write_atomic(path: Path, data: bytes) -> None:
    """:func:`vo_app.io.atomic.atomic_write_bytes` without the fsyncs (a sequence's folder is renamed
    into place once complete, ``layout.ensure_demo_sequence``)."""
    atomic_write_bytes(path, data, durable=False)


def write_text(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a uint8 gray/RGB or uint16 gray image as PNG (RGB is stored in cv2's BGR order)."""
    img = image[..., ::-1] if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img), _PNG_ARGS)
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    write_atomic(path, buf.tobytes())


def rgb_to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def depth_to_uint16(depth: np.ndarray, scale: float, clip: bool) -> np.ndarray:
    """``round(depth * scale)`` as uint16; 0 stays 0 (invalid).

    Depths beyond the uint16 range are clipped to 65535 if ``clip``, else set
    to 0 (invalid, like a real depth sensor out of range).
    """
    v = np.rint(np.asarray(depth, np.float64) * scale)
    over = v > 65535
    v = np.where(over, 65535.0 if clip else 0.0, v)
    return np.maximum(v, 0).astype(np.uint16)
