"""``vo-view``: replay a finished run (trajectory, last camera, map.ply) in open3d, or render it to a PNG."""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import click

from ..errors import UserError
from .common import parse_size, run_command


def _need_open3d() -> None:
    from ..viewer.availability import open3d_problem

    why = open3d_problem()
    if why:
        raise UserError(f"cannot show the run: {why}")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--screenshot", "png", type=click.Path(path_type=Path),
              help="Render headless to this PNG and exit (starts Xvfb when there is no DISPLAY).")
@click.option("--size", "size_text", default="960x600", show_default=True, help="Window / image size WIDTHxHEIGHT.")
def cli(out_dir, png, size_text):
    """Show the trajectory and point cloud of a finished vo-run output folder OUT_DIR."""
    from ..viewer.availability import display_problem
    from ..viewer.replay import load_run, screenshot, show

    size = parse_size(size_text)
    run = load_run(out_dir)
    _need_open3d()
    if png is None:
        why = display_problem()
        if why:
            raise UserError(why, fix="or use --screenshot PNG to render without a display")
        show(run, title=f"vo_app: {Path(out_dir).resolve().name}", size=size)
        return
    display = contextlib.nullcontext()
    if display_problem() and shutil.which("Xvfb"):  # without Xvfb, open3d may still render off screen (EGL)
        from ..viewer.xvfb import virtual_display

        display = virtual_display(size[0] + 64, size[1] + 64)
    with display:
        screenshot(run, png, size)
    click.echo(f"screenshot: {png}", err=True)


def main(args: list[str] | None = None) -> None:
    run_command(cli, "vo-view", args)


if __name__ == "__main__":
    main()
