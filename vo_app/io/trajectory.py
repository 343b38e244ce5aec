"""Trajectory files: KITTI and TUM formats, read and written in one place.

Poses are ``[N, 4, 4]`` float64 camera-to-world matrices.

* KITTI: one pose per line, the top 3x4 of the matrix, row-major (12 numbers).
* TUM:   ``timestamp tx ty tz qx qy qz qw`` per line (8 numbers), Hamilton
  quaternion, scalar last; ``#`` lines are comments.

Writers print every number with the shortest text that reads back to the same
float64 (timestamps with 6 decimals), write atomically, and refuse non-finite
values with ``ValueError`` so a NaN never reaches a results file.  Readers
accept whitespace or commas and raise :class:`UserError` naming the file and
line for malformed content.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from vo_app.errors import UserError
from vo_app.io.atomic import atomic_write_text
from vo_app.io.rotations import quat_to_rotation, rotation_to_quat

_KITTI_FIX = "expected 12 numbers per line: the row-major 3x4 camera-to-world matrix"
_TUM_FIX = "expected 8 numbers per line: timestamp tx ty tz qx qy qz qw"


class Trajectory(NamedTuple):
    """What :func:`read_trajectory` returns; ``timestamps`` is None for KITTI files."""

    timestamps: np.ndarray | None
    poses: np.ndarray
    fmt: str


# --------------------------------------------------------------------- writing
def _check_poses(poses: np.ndarray) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] not in ((4, 4), (3, 4)):
        raise ValueError(f"poses must have shape [N, 4, 4] or [N, 3, 4], got {poses.shape}")
    if not np.all(np.isfinite(poses)):
        bad = int(np.flatnonzero(~np.isfinite(poses).reshape(len(poses), -1).all(axis=1))[0])
        raise ValueError(f"pose {bad} has a non-finite value; refusing to write NaN/inf")
    return poses


def format_kitti(poses: np.ndarray) -> str:
    """``[N, 4, 4]`` (or ``[N, 3, 4]``) poses -> KITTI text, one 12-number line per pose."""
    poses = _check_poses(poses)
    rows = poses[:, :3, :4].reshape(len(poses), 12).tolist()
    return "".join(" ".join(map(repr, row)) + "\n" for row in rows)


def format_tum(timestamps: np.ndarray, poses: np.ndarray) -> str:
    """``t [N]`` seconds and ``[N, 4, 4]`` poses -> TUM text ``t tx ty tz qx qy qz qw``."""
    poses = _check_poses(poses)
    t = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    if len(t) != len(poses):
        raise ValueError(f"{len(t)} timestamps for {len(poses)} poses")
    if not np.all(np.isfinite(t)):
        raise ValueError("non-finite timestamp; refusing to write NaN/inf")
    q = rotation_to_quat(poses[:, :3, :3])
    values = np.concatenate([poses[:, :3, 3], q], axis=1).tolist()
    return "".join(f"{ti:.6f} " + " ".join(map(repr, v)) + "\n" for ti, v in zip(t.tolist(), values))


def write_kitti(path: "str | os.PathLike[str]", poses: np.ndarray) -> Path:
    """Write ``poses`` in KITTI format, atomically; returns the path."""
    return atomic_write_text(path, format_kitti(poses))


def write_tum(path: "str | os.PathLike[str]", timestamps: np.ndarray, poses: np.ndarray) -> Path:
    """Write ``timestamps`` and ``poses`` in TUM format, atomically; returns the path."""
    return atomic_write_text(path, format_tum(timestamps, poses))


# --------------------------------------------------------------------- reading
def _rows(path: "str | os.PathLike[str]", fix: str, width: int | None = None) -> list[tuple[int, list[float]]]:
    """Numeric rows of a text table as ``(line_number, values)``; comments and blanks skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UserError("trajectory file not found", path=path, fix="check the path") from None
    except OSError as exc:
        raise UserError(f"cannot read trajectory file ({exc.strerror or exc})", path=path) from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        fields = line.split()
        if width is not None and len(fields) != width:
            raise UserError(f"line {lineno}: found {len(fields)} values", path=path, fix=fix)
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise UserError(f"line {lineno}: non-numeric value", path=path, fix=fix) from None
        if not all(np.isfinite(values)):
            raise UserError(f"line {lineno}: non-finite value", path=path, fix=fix)
        rows.append((lineno, values))
    if not rows:
        raise UserError("trajectory file has no poses", path=path, fix=fix)
    return rows


def read_kitti(path: "str | os.PathLike[str]") -> np.ndarray:
    """KITTI file -> ``[N, 4, 4]`` float64 poses."""
    rows = _rows(path, _KITTI_FIX, 12)
    poses = np.zeros((len(rows), 4, 4))
    poses[:, :3, :] = np.array([v for _, v in rows]).reshape(-1, 3, 4)
    poses[:, 3, 3] = 1.0
    return poses


def read_tum(path: "str | os.PathLike[str]") -> tuple[np.ndarray, np.ndarray]:
    """TUM file -> ``(timestamps [N], poses [N, 4, 4])``; quaternions are normalised."""
    rows = _rows(path, _TUM_FIX, 8)
    data = np.array([v for _, v in rows])
    norms = np.linalg.norm(data[:, 4:8], axis=1)
    if np.any(norms < 1e-9):
        lineno = rows[int(np.flatnonzero(norms < 1e-9)[0])][0]
        raise UserError(f"line {lineno}: zero quaternion", path=path, fix=_TUM_FIX)
    poses = np.zeros((len(data), 4, 4))
    poses[:, :3, :3] = quat_to_rotation(data[:, 4:8])
    poses[:, :3, 3] = data[:, 1:4]
    poses[:, 3, 3] = 1.0
    return data[:, 0].copy(), poses


def detect_format(path: "str | os.PathLike[str]") -> str:
    """``"kitti"`` (12 columns) or ``"tum"`` (8 columns), from the first data line."""
    lineno, values = _rows(path, "expected a KITTI (12 columns) or TUM (8 columns) trajectory")[0]
    if len(values) == 12:
        return "kitti"
    if len(values) == 8:
        return "tum"
    raise UserError(f"line {lineno}: {len(values)} columns, neither KITTI (12) nor TUM (8)", path=path,
                    fix="pass a KITTI or TUM trajectory file")


def read_trajectory(path: "str | os.PathLike[str]", fmt: str | None = None) -> Trajectory:
    """Read a KITTI or TUM file (``fmt`` None: detected from the column count)."""
    fmt = detect_format(path) if fmt is None else fmt.lower()
    if fmt == "kitti":
        return Trajectory(None, read_kitti(path), "kitti")
    if fmt == "tum":
        t, poses = read_tum(path)
        return Trajectory(t, poses, "tum")
    raise ValueError(f"unknown trajectory format {fmt!r}; expected 'kitti' or 'tum'")
