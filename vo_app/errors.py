"""User-facing errors.

A :class:`UserError` is a problem the user can fix (a missing folder, a bad
calibration file, an unwritable output directory).  Its message is a single
line that names the file and says what to do.  The command-line entry points
catch it, print ``<prog>: error: <message>`` on stderr and exit with code 2,
without a traceback.
"""
from __future__ import annotations

import os


class UserError(Exception):
    """A user-caused failure with a one-line, actionable message."""

    exit_code = 2

    def __init__(self, message: str, path: "str | os.PathLike[str] | None" = None, fix: str | None = None):
        parts = []
        if path is not None:
            parts.append(f"{os.fspath(path)}: ")
        parts.append(message.strip().rstrip("."))
        if fix:
            parts.append(f"; {fix.strip().rstrip('.')}")
        text = "".join(parts).replace("\n", " ")
        super().__init__(text)
        self.path = None if path is None else os.fspath(path)
