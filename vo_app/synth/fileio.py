"""Atomic file writing and the small file formats of the synthetic layouts."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

#: Middlebury .flo magic number.
FLO_TAG = 202021.25
_PNG_ARGS = [cv2.IMWRITE_PNG_COMPRESSION, 1]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a hidden temporary file next to ``path``, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


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


def flo_bytes(flow: np.ndarray) -> bytes:
    """Middlebury .flo: float32 tag, int32 width, int32 height, then interleaved (u, v) float32."""
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


def rotation_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Hamilton quaternion ``(qx, qy, qz, qw)`` of a rotation matrix, with ``qw >= 0``."""
    R = np.asarray(R, np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s])
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = np.array([0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s])
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = np.array([(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = np.array([(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s])
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q
