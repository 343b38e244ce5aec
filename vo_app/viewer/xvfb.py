"""A private virtual X display (Xvfb) for headless rendering, as a context manager."""
from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess

from ..errors import UserError


@contextlib.contextmanager
def virtual_display(width: int = 1280, height: int = 1024, timeout: float = 10.0):
    """Start ``Xvfb`` on a free display number, set ``DISPLAY`` inside the block, stop it after."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise UserError("no display and no Xvfb to render with",
                        fix="set DISPLAY, or install xvfb (apt-get install xvfb)")
    rfd, wfd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(wfd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            pass_fds=(wfd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(wfd)
    try:
        ready, _, _ = select.select([rfd], [], [], timeout)
        number = os.read(rfd, 64).decode().strip() if ready else ""
        if not number.isdigit():
            raise UserError("Xvfb did not start", fix="set DISPLAY, or check that Xvfb runs (xvfb-run -a true)")
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = f":{number}"
        try:
            yield os.environ["DISPLAY"]
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old
    finally:
        os.close(rfd)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
