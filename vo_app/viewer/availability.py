"""Why the open3d viewer cannot start, in one line that names the fix.

open3d's wheel links system libraries (libusb, libGL, ...) that minimal Debian
images lack; its import then fails with an ``OSError`` naming the ``.so``.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import sys

#: shared-library name fragment -> Debian package that provides it
LIB_PACKAGES = {
    "libusb-1.0": "libusb-1.0-0",
    "libGL.so": "libgl1",
    "libGLX": "libglx0",
    "libEGL": "libegl1",
    "libOpenGL": "libopengl0",
    "libgomp": "libgomp1",
    "libX11": "libx11-6",
    "libXrender": "libxrender1",
    "libXext": "libxext6",
    "libXi.so": "libxi6",
    "libXxf86vm": "libxxf86vm1",
    "libxcb": "libxcb1",
    "libc++": "libc++1",
}


def explain_import_error(exc: BaseException) -> str:
    """What is missing, from the exception that ``import open3d`` raised."""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "open3d":
        return "open3d is not installed (pip install open3d, or install vo_app with its [viewer] extra)"
    text = str(exc)
    for lib, pkg in LIB_PACKAGES.items():
        if lib in text:
            return f"open3d needs {pkg} (apt-get install {pkg})"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"open3d failed to import ({first})"


def x_server_reachable(display: str, timeout: float = 0.5) -> bool:
    """Whether the X server of ``display`` (``[host]:N[.S]``) accepts connections."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        if not os.path.exists(path):
            return False
        family, address = socket.AF_UNIX, path
    else:
        family, address = socket.AF_INET, (host, 6000 + int(number))
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
        return True
    except OSError:
        return False


def display_problem(environ=None) -> str | None:
    """None when a window can be opened, else the one-line reason.

    On Linux a DISPLAY (or WAYLAND_DISPLAY) must be set and an X DISPLAY must answer:
    without one, open3d would silently render off screen, to a window nobody can close.
    """
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or env.get("WAYLAND_DISPLAY"):
        return None
    display = env.get("DISPLAY")
    if not display:
        return "no display: set DISPLAY or run under xvfb-run"
    if not x_server_reachable(display):
        return f"no X server answers on DISPLAY={display}: set DISPLAY or run under xvfb-run"
    return None


def open3d_installed() -> bool:
    return importlib.util.find_spec("open3d") is not None


def open3d_problem() -> str | None:
    """Import open3d here and now; None if it works, else the one-line reason."""
    try:
        import open3d  # noqa: F401
    except (ImportError, OSError) as exc:
        return explain_import_error(exc)
    return None
