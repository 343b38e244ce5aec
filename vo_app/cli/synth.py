"""``vo-synth``: render a synthetic sequence with exact ground truth."""
from __future__ import annotations

import sys
import time

import click

from vo_app.errors import UserError

from .common import parse_size

_MOTIONS = ("forward", "handheld", "rotation", "static", "indoor", "stopgo")  # vo_app.synth.motion.MOTIONS
_LAYOUTS = ("kitti", "tum", "both")


def run(out_dir: str, frames: int, size: str, motion: str, seed: int, layout: str, flow: bool, fps: float | None,
        focal_ratio: float | None = None) -> str:
    """The command's work without click; returns the summary line.

    ``fps`` (Hz) and ``focal_ratio`` (fx / image width) of ``None`` take the motion's defaults
    (10 Hz and 0.58, KITTI-like; 30 Hz and 0.91, 7-Scenes-like, for ``indoor``).
    """
    from vo_app.synth import write_sequence  # heavy imports only once the arguments are fine

    if frames < 2:
        raise UserError(f"--frames {frames} is too small", fix="render at least 2 frames")
    width, height = parse_size(size, native=False)
    if focal_ratio is not None and not focal_ratio > 0:
        raise UserError(f"--focal-ratio {focal_ratio} is not positive", fix="use e.g. --focal-ratio 0.58")
    t0 = time.perf_counter()
    path = write_sequence(out_dir, layout=layout, n_frames=frames, width=width, height=height, motion=motion,
                          seed=seed, fps=fps, write_flow=flow, focal_ratio=focal_ratio)
    dt = time.perf_counter() - t0
    return f"vo-synth: wrote {frames} {width}x{height} {motion} frames ({layout} layout) to {path} in {dt:.1f} s"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--frames", type=int, default=100, show_default=True, help="Number of frames (>= 2).")
@click.option("--size", default="416x128", show_default=True, help="Image size WIDTHxHEIGHT.")
@click.option("--motion", type=click.Choice(_MOTIONS), default="forward", show_default=True,
              help="Camera motion profile (indoor: handheld in a furnished room; the others: a street; stopgo: "
                   "stop-and-go driving with standstills, a pan while stopped and a U-turn).")
@click.option("--seed", type=int, default=0, show_default=True, help="Scene and motion seed.")
@click.option("--layout", type=click.Choice(_LAYOUTS), default="kitti", show_default=True,
              help="Folder layout: KITTI odometry, TUM RGB-D, or both (OUT_DIR/kitti and OUT_DIR/tum).")
@click.option("--fps", type=float, default=None,
              help="Frame rate of the timestamps.  [default: 10, or 30 for --motion indoor]")
@click.option("--focal-ratio", type=float, default=None,
              help="Focal length / image width.  [default: 0.58 (KITTI-like), or 0.91 (7-Scenes-like) "
                   "for --motion indoor]")
@click.option("--flow/--no-flow", default=True, show_default=True, help="Write ground-truth optical flow.")
def main(out_dir, frames, size, motion, seed, layout, fps, focal_ratio, flow):
    """Render a deterministic synthetic street (or, with --motion indoor, room)
    sequence with exact ground truth (poses, depth, optical flow) into OUT_DIR."""
    try:
        click.echo(run(out_dir, frames, size, motion, seed, layout, flow, fps, focal_ratio))
    except UserError as exc:
        click.echo(f"vo-synth: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
