"""``vo-eval``: trajectory (``traj``), optical-flow (``flow``) and depth (``depth``) evaluation."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from .common import parse_segments, run_command

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=_CTX)
def cli():
    """Evaluate trajectories against ground truth (traj), optical flow (flow) and depth (depth)."""


@cli.command(context_settings=_CTX)
@click.option("--gt", "gt_path", required=True, type=click.Path(path_type=Path),
              help="Ground-truth trajectory (KITTI or TUM).")
@click.option("--est", "est_paths", required=True, multiple=True, type=click.Path(path_type=Path),
              help="Estimated trajectory; repeat to compare several side by side.")
@click.option("--format", "fmt", type=click.Choice(["auto", "kitti", "tum"]), default="auto", show_default=True,
              help="File format (auto: 12 columns KITTI, 8 columns TUM).")
@click.option("--align", type=click.Choice(["sim3", "se3", "scale", "none"]), default="sim3", show_default=True,
              help="Alignment of each estimate to the ground truth (Umeyama, evo) before every metric.")
@click.option("--delta-m", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="RPE per distance: pairs this many metres apart.")
@click.option("--segments", "segments_text", default="auto", show_default=True,
              help="KITTI segment lengths: 'kitti' (100..800 m), 'auto' (those that fit, or 8 shorter ones for "
                   "short paths) or a list such as 5,10,20.")
@click.option("--segment-step", type=click.IntRange(1), default=10, show_default=True,
              help="KITTI metric: a segment starts every N frames.")
@click.option("--start", type=click.IntRange(0), default=None,
              help="KITTI ground truth of a partial run: its first pose is this GT row (default: from the run's "
                   "report.json, else 0).")
@click.option("--stride", type=click.IntRange(1), default=None,
              help="KITTI ground truth of a partial run: GT rows between its poses (default: from report.json, "
                   "else 1).")
@click.option("--t-max-diff", type=click.FloatRange(min=0), default=0.01, show_default=True,
              help="TUM files: largest timestamp difference (s) for associating poses.")
@click.option("--drift-from", type=click.IntRange(0), default=0, show_default=True,
              help="Scale drift: score the steps after this frame only, normalised to the first moving ones there "
                   "(for ground truth whose first frames are not measured, e.g. KITTI 00's first 15).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write all numbers to this JSON file.")
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path),
              help="Write PNG plots into this folder (per estimate: top view, errors; scale_drift.png for all).")
@click.option("--plane", type=click.Choice(["xz", "xy", "yz"]), default="xz", show_default=True,
              help="Top-view plane (xz for camera frames: x right, y down, z forward).")
def traj(gt_path, est_paths, fmt, align, delta_m, segments_text, segment_step, start, stride, t_max_diff, drift_from,
         json_path, plots_dir, plane):
    """ATE, RPE, the KITTI drift metric and the scale drift of one or more estimates against GT.

    A partial run is scored against the ground truth of the whole sequence: TUM files
    by timestamp, KITTI files by row (--start/--stride, or the run's report.json).
    """
    from ..eval import format_table, load_pair
    from ..eval.report import evaluate_all, unique_labels, write_outputs
    from .common import ensure_writable_dir

    lengths = parse_segments(segments_text)
    fmt = None if fmt == "auto" else fmt
    labels = unique_labels(list(est_paths))
    pairs = {lab: load_pair(gt_path, p, fmt, t_max_diff, start, stride) for lab, p in zip(labels, est_paths)}
    for lab, p in pairs.items():
        if drift_from >= len(p.ref.poses_se3) - 1:
            raise UserError(f"--drift-from {drift_from} is past the last step ({len(p.ref.poses_se3)} poses matched "
                            f"with {lab})", path=gt_path, fix="give a frame before the last one")
    for lab, p in pairs.items():  # which ground truth was used (after the checks: an error stays one line)
        click.echo(f"{lab}: {len(p.ref.poses_se3)} of {p.gt_total} ground-truth poses used ({p.gt_used})"
                   + ("; --start/--stride apply to row matching only" if p.matched_by == "timestamps"
                      and (start, stride) != (None, None) else ""), err=True)
    results = evaluate_all(pairs, align=align, delta_m=delta_m, lengths=lengths, step=segment_step,
                           drift_from=drift_from)
    click.echo(format_table(results))
    if plots_dir is not None:
        ensure_writable_dir(plots_dir)
    meta = {"gt": str(gt_path), "estimates": {lab: str(p) for lab, p in zip(labels, est_paths)}, "align": align,
            "start": start, "stride": stride, "delta_m": delta_m, "segments": segments_text,
            "segment_step": segment_step, "drift_from": drift_from}
    written = write_outputs(results, json_path=json_path, plots_dir=plots_dir, plane=plane, meta=meta)
    if written:
        click.echo("written: " + ", ".join(str(p) for p in written), err=True)


from .eval_flow import flow_cmd  # noqa: E402  (vo-eval flow: EPE / Fl-all on Middlebury and synthetic pairs)

cli.add_command(flow_cmd, "flow")

from .eval_depth import depth_cmd  # noqa: E402  (vo-eval depth: AbsRel / RMSE / deltas on synthetic, TartanAir, KITTI)

cli.add_command(depth_cmd, "depth")

from .eval_summary import summary_cmd  # noqa: E402  (vo-eval summary: one table over a folder of runs, e.g. vo-batch's)

cli.add_command(summary_cmd, "summary")


def main(args: list[str] | None = None) -> None:
    run_command(cli, "vo-eval", args)


if __name__ == "__main__":
    main()
