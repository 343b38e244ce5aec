"""Image files: listing, decoding to float32, undistortion and resizing.

Decoded images are float32 in [0, 1]: gray ``[H, W]`` or RGB ``[H, W, 3]``.
Depth maps are float32 metres ``[H, W]``, 0 where invalid.  Pixel (0, 0) is
the centre of the top-left pixel, which is also OpenCV's resize/remap
convention, so :meth:`Intrinsics.scaled` matches :func:`cv2.resize`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from vo_app.io.types import Intrinsics

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")


class ImageReadError(Exception):
    """An image that cannot be read; the message is a short one-line reason."""


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def list_images(folder: "str | os.PathLike[str]") -> list[Path]:
    """Image files directly in ``folder``, naturally sorted ([] if it is not a directory).

    In a folder mixing ``*.color.*`` and ``*.depth.*`` images (7-Scenes) only
    the colour images are returned.
    """
    try:
        entries = [e for e in os.scandir(folder)
                   if e.name.lower().endswith(IMAGE_EXTENSIONS) and not e.name.startswith(".") and e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = [e.name for e in entries]
    if any(".color." in n for n in names):
        names = [n for n in names if ".color." in n]
    return [Path(folder) / n for n in sorted(names, key=natural_key)]


def _to_float(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) * np.float32(1 / 255)
    if img.dtype == np.uint16:
        return img.astype(np.float32) * np.float32(1 / 65535)
    if np.issubdtype(img.dtype, np.integer):
        return img.astype(np.float32) / np.float32(np.iinfo(img.dtype).max)
    return img.astype(np.float32)


def truncation(data: bytes) -> str | None:
    """Why the JPEG or PNG file ``data`` is cut short, or None (complete, or another format).

    libjpeg decodes a JPEG without its end grey-filled, with only a warning on stderr; so a
    JPEG must hold its end-of-image marker (FFD9) after its last start-of-scan marker (FFDA:
    an EXIF thumbnail's own FFD9 comes before it), and a PNG its whole IEND chunk after the
    last IDAT chunk.  Bytes after the end (padding, vendor trailers) are allowed.
    """
    if data[:2] == b"\xff\xd8":
        sos = data.rfind(b"\xff\xda")
        if sos < 0 or data.rfind(b"\xff\xd9") < sos:
            return "truncated JPEG (no end-of-image marker)"
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if data.rfind(b"IEND\xaeB`\x82") < max(data.rfind(b"IDAT"), 8):  # IEND and its (fixed) CRC
            return "truncated PNG (no IEND chunk)"
    return None


def _decode(path: "str | os.PathLike[str]") -> np.ndarray:
    if not os.path.isfile(path):
        raise ImageReadError("file not found")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ImageReadError(f"cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise ImageReadError("empty file")
    why = truncation(data)
    if why is not None:
        raise ImageReadError(why)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # pragma: no cover - depends on the codec
        raise ImageReadError(f"cannot decode image ({str(exc).strip().splitlines()[-1]})") from None
    if img is None or img.size == 0:
        raise ImageReadError("cannot decode image (corrupt or unsupported file)")
    return img


def read_image(path: "str | os.PathLike[str]", color: bool = False) -> np.ndarray:
    """Decode ``path`` -> float32 gray ``[H, W]`` or RGB ``[H, W, 3]`` in [0, 1] (native size).

    Gray sources are replicated to 3 channels when ``color``; colour sources
    are converted to gray otherwise; an alpha channel is dropped.
    Raises :class:`ImageReadError` for a missing or undecodable file.
    """
    return decoded_to_float(_decode(path), color)


def decoded_to_float(img: np.ndarray, color: bool = False) -> np.ndarray:
    """An OpenCV-decoded image (gray, BGR or BGRA, any dtype) -> float32 gray ``[H, W]`` or RGB
    ``[H, W, 3]`` in [0, 1], as :func:`read_image` returns it (video frames use it too)."""
    img = _to_float(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = np.ascontiguousarray(img[:, :, :3])
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2) if color else img
    if img.ndim != 3 or img.shape[2] != 3:
        raise ImageReadError(f"unsupported image shape {img.shape}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB if color else cv2.COLOR_BGR2GRAY)


def read_depth(path: "str | os.PathLike[str]", scale: float) -> np.ndarray:
    """Decode a depth PNG -> float32 metres ``[H, W]`` (raw value / ``scale``; 0 stays invalid, and so
    does 65535 in 16-bit files: the Kinect's "no reading", as 7-Scenes stores it)."""
    img = _decode(path)
    if img.ndim != 2:
        raise ImageReadError(f"depth image has {img.shape[2]} channels, expected 1")
    out = img.astype(np.float32) / np.float32(scale)
    if img.dtype == np.uint16:
        out[img == np.iinfo(np.uint16).max] = 0.0
    return out


def image_size(path: "str | os.PathLike[str]") -> tuple[int, int]:
    """``(W, H)`` of an image file; raises :class:`ImageReadError`."""
    img = _decode(path)
    return int(img.shape[1]), int(img.shape[0])


#: Working sizes derived from a width (a preset's ``size: 640``) are rounded to multiples of this.
SIZE_MULTIPLE = 8


def working_size(size: "tuple[int, int] | int | None", native: tuple[int, int]) -> tuple[int, int]:
    """The working ``(W, H)`` for images of ``native`` ``(W0, H0)``.

    ``size``: ``(W, H)`` is used as given; None keeps ``native``; a single width ``W`` keeps the
    native aspect ratio: ``H = W * H0 / W0`` rounded to a multiple of :data:`SIZE_MULTIPLE`
    (``W`` rounded down to one), and images narrower than ``W`` keep their native size.
    """
    if size is None:
        return tuple(native)
    if not isinstance(size, (int, np.integer)):
        return (int(size[0]), int(size[1]))
    W0, H0 = native
    if W0 <= size:
        return (int(W0), int(H0))
    m = SIZE_MULTIPLE
    W = max(m, int(size) // m * m)
    H = max(m, int(round(W * H0 / W0 / m)) * m)
    return (W, H)


class ImageTransform:
    """Native image -> working image: optional undistortion, then resize.

    Undistortion keeps the same ``K`` (``initUndistortRectifyMap`` with
    ``newCameraMatrix = K``), so :attr:`intrinsics` is the native ``K`` with
    ``dist=None``, scaled to the working size.  The maps are computed once.
    """

    def __init__(self, native: Intrinsics, size: tuple[int, int] | None = None, undistort: bool = True):
        self.native_size = (native.width, native.height)
        self.size = tuple(size) if size is not None else self.native_size
        self._maps = None
        out = native
        if undistort and native.dist is not None and any(native.dist):
            self._maps = cv2.initUndistortRectifyMap(
                native.K, np.asarray(native.dist, dtype=np.float64), None, native.K,
                self.native_size, cv2.CV_32FC1)
            out = Intrinsics(native.fx, native.fy, native.cx, native.cy, native.width, native.height, None)
        self.intrinsics = out if self.size == self.native_size else out.scaled(*self.size)

    def image(self, img: np.ndarray) -> np.ndarray:
        """``[H0, W0(, 3)]`` float32 native -> ``[H, W(, 3)]`` float32 working."""
        if self._maps is not None:
            img = cv2.remap(img, *self._maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if self.size != self.native_size:
            shrink = self.size[0] * self.size[1] < self.native_size[0] * self.native_size[1]
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return np.clip(img, 0.0, 1.0, out=img) if img.dtype == np.float32 else img

    def depth(self, depth: np.ndarray) -> np.ndarray:
        """Depth ``[H0, W0]`` -> ``[H, W]`` with nearest-neighbour sampling (no mixed depths)."""
        if (depth.shape[1], depth.shape[0]) != self.native_size:
            depth = cv2.resize(depth, self.native_size, interpolation=cv2.INTER_NEAREST)
        if self._maps is not None:
            depth = cv2.remap(depth, *self._maps, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if self.size != self.native_size:
            depth = cv2.resize(depth, self.size, interpolation=cv2.INTER_NEAREST)
        return depth
