"""Camera calibration files -> :class:`Intrinsics` at the images' native size.

Accepted forms:

* intrinsics text file: ``fx fy cx cy [k1 k2 p1 p2 [k3]]`` (4, 8 or 9 numbers,
  whitespace or comma separated, ``#`` comments);
* a 3x3 matrix ``K`` (e.g. 7-Scenes ``camera-intrinsics.txt``), optionally
  followed by 4 or 5 distortion coefficients;
* KITTI ``calib.txt``: lines ``P0: <12 numbers>`` (3x4 projection, ``K = P[:, :3]``);
* the published TUM RGB-D calibrations, looked up by ``freiburg1/2/3`` in a folder name.

Every problem is a :class:`UserError` naming the file and the expected format.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from vo_app.errors import UserError
from vo_app.io.types import Intrinsics

INTRINSICS_FORMAT = "expected 'fx fy cx cy [k1 k2 p1 p2 [k3]]' or a 3x3 matrix K"
KITTI_FORMAT = "expected lines 'P0: <12 numbers>' (3x4 projection matrix, row-major)"

# Files an intrinsics search looks for, in order of preference.
INTRINSICS_NAMES = ("intrinsics.txt", "camera.txt", "camera-intrinsics.txt", "calib.txt")

# Published TUM RGB-D colour-camera calibrations (640x480): fx fy cx cy, dist.
TUM_CAMERAS = {
    "freiburg1": ((517.3, 516.5, 318.6, 255.3), (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)),
    "freiburg2": ((520.9, 521.0, 325.1, 249.7), (0.2312, -0.7849, -0.0033, -0.0001, 0.9172)),
    "freiburg3": ((535.4, 539.2, 320.1, 247.6), None),
}


def _make(values, dist, width: int, height: int, path: Path, fix: str) -> Intrinsics:
    fx, fy, cx, cy = (float(v) for v in values)
    if not (fx > 0 and fy > 0):
        raise UserError(f"focal lengths must be positive (fx={fx:g}, fy={fy:g})", path=path, fix=fix)
    if dist is not None:
        dist = tuple(float(d) for d in dist)
        if not any(dist):
            dist = None
    return Intrinsics(fx, fy, cx, cy, int(width), int(height), dist)


def read_text(path: "str | os.PathLike[str]", fix: str, what: str = "file") -> str:
    """The text of a small file; a missing or unreadable file is a one-line UserError naming ``what``."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UserError(f"{what} not found", path=path, fix=fix) from None
    except OSError as exc:
        raise UserError(f"cannot read {what} ({exc.strerror or exc})", path=path, fix=fix) from None


def read_number_rows(path: "str | os.PathLike[str]", fix: str) -> list[list[float]]:
    """Rows of numbers from a small text file (``#`` comments, blank lines skipped; commas allowed)."""
    path = Path(path)
    text = read_text(path, fix)
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        try:
            row = [float(f) for f in line.split()]
        except ValueError:
            raise UserError(f"line {lineno}: non-numeric value", path=path, fix=fix) from None
        if not all(np.isfinite(row)):
            raise UserError(f"line {lineno}: non-finite value", path=path, fix=fix)
        rows.append(row)
    return rows


def _is_kitti(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^\s*P\d\s*:", text, flags=re.M) is not None


def read_intrinsics_file(path: "str | os.PathLike[str]", width: int, height: int) -> Intrinsics:
    """Intrinsics text file (any accepted form, KITTI calib included) for ``width`` x ``height`` images."""
    path = Path(path)
    if path.is_file() and _is_kitti(path):
        return read_kitti_calib(path, None, width, height)
    rows = read_number_rows(path, INTRINSICS_FORMAT)
    values = [v for row in rows for v in row]
    three_rows = len(rows) >= 3 and all(len(r) == 3 for r in rows[:3])
    one_line_K = len(values) == 9 and values[1] == 0 and values[3] == 0 and values[6:9] == [0.0, 0.0, 1.0]
    if three_rows or one_line_K:
        K = np.array(values[:9]).reshape(3, 3)
        dist = values[9:]
        if not np.allclose(K[2], [0, 0, 1]) or len(dist) not in (0, 4, 5):
            raise UserError("not a 3x3 calibration matrix [[fx 0 cx] [0 fy cy] [0 0 1]]", path=path,
                            fix=INTRINSICS_FORMAT)
        return _make((K[0, 0], K[1, 1], K[0, 2], K[1, 2]), dist or None, width, height, path,
                     INTRINSICS_FORMAT)
    if len(values) not in (4, 8, 9):
        raise UserError(f"found {len(values)} numbers", path=path, fix=INTRINSICS_FORMAT)
    return _make(values[:4], values[4:] or None, width, height, path, INTRINSICS_FORMAT)


def read_kitti_calib(path: "str | os.PathLike[str]", camera: int | None, width: int, height: int) -> Intrinsics:
    """KITTI ``calib.txt`` -> intrinsics of camera ``camera`` (None: the first ``P<n>`` line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UserError("calibration file not found", path=path, fix=KITTI_FORMAT) from None
    except OSError as exc:
        raise UserError(f"cannot read calibration file ({exc.strerror or exc})", path=path) from None
    found: dict[int, tuple[int, str]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = re.match(r"\s*P(\d)\s*:(.*)$", line)
        if m:
            found.setdefault(int(m.group(1)), (lineno, m.group(2)))
    if not found:
        raise UserError("no 'P0:' line", path=path, fix=KITTI_FORMAT)
    key = min(found) if camera is None else camera
    if key not in found:
        raise UserError(f"no 'P{key}:' line for camera {key}", path=path, fix=KITTI_FORMAT)
    lineno, rest = found[key]
    fields = rest.replace(",", " ").split()
    if len(fields) != 12:
        raise UserError(f"line {lineno}: P{key} has {len(fields)} numbers", path=path, fix=KITTI_FORMAT)
    try:
        P = np.array([float(f) for f in fields]).reshape(3, 4)
    except ValueError:
        raise UserError(f"line {lineno}: non-numeric value in P{key}", path=path, fix=KITTI_FORMAT) from None
    if not np.all(np.isfinite(P)):
        raise UserError(f"line {lineno}: non-finite value in P{key}", path=path, fix=KITTI_FORMAT)
    K = P[:, :3] / P[2, 2] if P[2, 2] not in (0.0, 1.0) else P[:, :3]
    return _make((K[0, 0], K[1, 1], K[0, 2], K[1, 2]), None, width, height, path, KITTI_FORMAT)


def tum_intrinsics_for(name: str, width: int, height: int) -> Intrinsics | None:
    """Published TUM RGB-D intrinsics if ``name`` mentions freiburg1/2/3 (scaled to the image size)."""
    for key, (values, dist) in TUM_CAMERAS.items():
        if key in name.lower():
            K = Intrinsics(*values, 640, 480, dist)
            return K if (width, height) == (640, 480) else K.scaled(width, height)
    return None


def find_intrinsics_file(dirs, names=INTRINSICS_NAMES) -> Path | None:
    """First existing ``dir / name`` over ``dirs`` (outer) and ``names`` (inner)."""
    for d in dirs:
        for n in names:
            p = Path(d) / n
            if p.is_file():
                return p
    return None


def fov_intrinsics(fov_deg: float, width: int, height: int) -> Intrinsics:
    """A pinhole camera with horizontal field of view ``fov_deg``: ``fx = fy = (W / 2) / tan(fov / 2)``,
    principal point at the image centre (``((W - 1) / 2, (H - 1) / 2)`` with pixel centres at integers)."""
    f = (width / 2.0) / math.tan(math.radians(float(fov_deg)) / 2.0)
    return Intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height), None)


def resolve_intrinsics(given, width: int, height: int, fov: float | None = None) -> Intrinsics | None:
    """The ``intrinsics`` argument of ``open_sequence`` (a path, an :class:`Intrinsics`), else the
    camera of ``fov`` (horizontal field of view, degrees), else None."""
    if given is None:
        return None if fov is None else fov_intrinsics(fov, width, height)
    if isinstance(given, Intrinsics):
        if (given.width, given.height) == (width, height):
            return given
        return given.scaled(width, height)
    path = Path(given)
    if not path.is_file():
        raise UserError("intrinsics file not found", path=path, fix=f"pass --intrinsics FILE; {INTRINSICS_FORMAT}")
    return read_intrinsics_file(path, width, height)
