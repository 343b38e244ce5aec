"""``vo-synth``: render a synthetic sequence with exact ground truth."""
from __future__ import annotations

import re
import sys
import time

import click

from vo_app.errors import UserError

_MOTIONS = ("forward", "handheld", "rotation", "static")
_LAYOUTS = ("kitti", "tum", "both")


def parse_size(text: str) -> tuple[int, int]:
    """``"416x128"`` -> ``(416, 128)``; raises :class:`UserError` for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m:
        raise UserError(f"--size {text!r} is not WIDTHxHEIGHT", fix="use e.g. --size 416x128")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 16 or h < 16 or w > 8192 or h > 8192:
        raise UserError(f"--size {text} is out of range", fix="use 16..8192 pixels per side, e.g. --size 416x128")
    return w, h


def run(out_dir: str, frames: int, size: str, motion: str, seed: int, layout: str, flow: bool, fps: float) -> str:
    """The command's work without click; returns the summary line."""
    from vo_app.synth import write_sequence  # heavy imports only once the arguments are fine

    if frames < 2:
        raise UserError(f"--frames {frames} is too small", fix="render at least 2 frames")
    width, height = parse_size(size)
    t0 = time.perf_counter()
    path = write_sequence(out_dir, layout=layout, n_frames=frames, width=width, height=height, motion=motion,
                          seed=seed, fps=fps, write_flow=flow)
    dt = time.perf_counter() - t0
    return f"vo-synth: wrote {frames} {width}x{height} {motion} frames ({layout} layout) to {path} in {dt:.1f} s"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--frames", type=int, default=100, show_default=True, help="Number of frames (>= 2).")
@click.option("--size", default="416x128", show_default=True, help="Image size WIDTHxHEIGHT.")
@click.option("--motion", type=click.Choice(_MOTIONS), default="forward", show_default=True,
              help="Camera motion profile.")
@click.option("--seed", type=int, default=0, show_default=True, help="Scene and motion seed.")
@click.option("--layout", type=click.Choice(_LAYOUTS), default="kitti", show_default=True,
              help="Folder layout: KITTI odometry, TUM RGB-D, or both (OUT_DIR/kitti and OUT_DIR/tum).")
@click.option("--fps", type=float, default=10.0, show_default=True, help="Frame rate of the timestamps.")
@click.option("--flow/--no-flow", default=True, show_default=True, help="Write ground-truth optical flow.")
def main(out_dir, frames, size, motion, seed, layout, fps, flow):
    """Render a deterministic synthetic street sequence with exact ground truth
    (poses, depth, optical flow) into OUT_DIR."""
    try:
        click.echo(run(out_dir, frames, size, motion, seed, layout, flow, fps))
    except UserError as exc:
        click.echo(f"vo-synth: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
