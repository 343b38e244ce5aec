"""What every ``vo-*`` command shares: one-line user errors with exit code 2, output-folder checks."""
from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import click

from ..errors import UserError


def run_command(cmd: click.Command, prog: str, args: list[str] | None = None) -> None:
    """Run a click command; user errors print ``prog: error: ...`` on one line and exit 2."""
    try:
        rv = cmd.main(args=args, prog_name=prog, standalone_mode=False)
    except UserError as e:
        click.echo(f"{prog}: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e), err=True)
        sys.exit(2)
    except click.UsageError as e:
        click.echo(f"{prog}: error: {e.format_message()} (see {prog} --help)", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo(f"{prog}: interrupted; the outputs hold every frame finished so far", err=True)
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo(f"{prog}: interrupted; the outputs hold every frame finished so far", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


def ensure_writable_dir(path: Path, flag: str = "--out") -> Path:
    """Create ``path`` if needed and check that files can be created in it (``flag``: the option to name)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError("the output path exists and is not a directory", path=path, fix=f"pass {flag} a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"cannot write to the output directory ({e.strerror or e})", path=path,
                        fix=f"choose a writable {flag} directory") from None
    return path


def parse_size(text: str | None, *, native: bool = True) -> tuple[int, int] | None:
    """``"832x256"`` -> ``(832, 256)`` (16 to 8192 pixels a side); ``"native"`` or None -> None when
    ``native``, else a :class:`UserError` like any other malformed size."""
    if native and (text is None or text == "native"):
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    example = "832x256, or 'native'" if native else "416x128"
    if not m:
        raise UserError(f"invalid --size {text!r}", fix=f"use WIDTHxHEIGHT, e.g. {example}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise UserError(f"--size {text!r} is out of range", fix=f"use 16..8192 pixels a side, e.g. {example}")
    return w, h


def parse_segments(text: str) -> "str | tuple[float, ...]":
    """``kitti`` | ``auto`` | ``5,10,20`` -> what :func:`vo_app.eval.evaluate.resolve_lengths` takes."""
    text = text.strip().lower()
    if text in ("kitti", "auto"):
        return text
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
        if not values or min(values) <= 0:
            raise ValueError
    except ValueError:
        raise UserError(f"invalid --segments {text!r}", fix="use 'kitti', 'auto' or positive lengths in metres, "
                        "e.g. 5,10,20") from None
    return tuple(sorted(values))
