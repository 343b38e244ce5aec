"""Atomic file writes: a reader never sees a half-written output file.

The data go to a temporary file in the destination's directory, are fsync'ed,
and the temporary file is renamed over the destination (``os.replace``).  On
any failure the temporary file is removed.  Missing parent directories are
created; a directory that cannot be created or written is a :class:`UserError`.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vo_app.errors import UserError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: "str | os.PathLike[str]", data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path.

    ``durable=False`` skips the fsyncs (still atomic, not crash-safe): for the many small files of a
    rendered synthetic sequence, whose folder is itself renamed into place once complete."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(f"cannot write to directory ({exc.strerror or exc})", path=directory,
                        fix="choose a writable output directory") from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise UserError(f"cannot write file ({exc.strerror or exc})", path=path,
                            fix="check free disk space and permissions") from None
        raise
    if durable:
        _fsync_dir(directory)
    return path


def atomic_write_text(path: "str | os.PathLike[str]", text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: "str | os.PathLike[str]", obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON atomically; returns the path.

    numpy scalars and arrays become numbers and lists; non-finite floats
    (NaN, inf), which strict JSON cannot hold, are written as ``null``.
    """
    text = json.dumps(_jsonable(obj), indent=indent, allow_nan=False, sort_keys=False)
    return atomic_write_text(path, text + "\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (best effort; not supported everywhere)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
