"""``vo-eval summary DIR``: one table over a folder of runs (e.g. ``vo-batch --out DIR``)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option("--align", type=click.Choice(["sim3", "se3", "scale", "none"]), default="sim3", show_default=True,
              help="Alignment of each estimate to its ground truth before every metric.")
@click.option("--segments", "segments_text", default="auto", show_default=True,
              help="KITTI segment lengths, as in vo-eval traj: 'auto', 'kitti' or e.g. 5,10,20.")
@click.option("--segment-step", type=click.IntRange(1), default=10, show_default=True,
              help="KITTI metric: a segment starts every N frames.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Where summary.md, summary.csv and summary.json go [default: RESULTS_DIR].")
def summary_cmd(results_dir, align, segments_text, segment_step, out_dir):
    """One row per run in RESULTS_DIR (frames, path, ATE, RPE, KITTI segment errors, scale drift), then the
    mean; printed as Markdown and written as summary.md, summary.csv and summary.json."""
    from ..eval.summary_table import format_markdown, summarize, write_summary
    from ..io.run_folder import is_run_folder
    from .common import ensure_writable_dir
    from .common import parse_segments

    if not results_dir.is_dir():
        raise UserError("results folder does not exist", path=results_dir, fix="give the --out folder of vo-batch")
    if not any(is_run_folder(p) for p in results_dir.iterdir()):
        raise UserError("no run folders here (sub-folders with report.json or error.json)", path=results_dir,
                        fix="give the --out folder of vo-batch")
    table = summarize(results_dir, align=align, lengths=parse_segments(segments_text), step=segment_step)
    click.echo(format_markdown(table))
    written = write_summary(table, ensure_writable_dir(out_dir or results_dir))
    click.echo("written: " + ", ".join(str(p) for p in written), err=True)
