"""``vo-batch``: ``vo-run`` over many sequences (this machine's cores or a Ray cluster), then one table."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from .common import ensure_writable_dir, run_command


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("sequences", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Results folder: one sub-folder per sequence, and summary.md / .csv / .json.")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Sequences run at once on this machine: N worker processes, each running one sequence after another.")
@click.option("--threads", type=click.IntRange(1),
              help="Threads of each worker (torch, OpenCV, OpenMP/BLAS) [default: this machine's cores // --workers].")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Send each sequence as a task to this Ray cluster ('auto', HOST:PORT, ray://HOST:PORT, or 'local' "
                   "for a Ray on this machine); needs vo_app[cluster]. SEQUENCES must be paths every node sees.")
@click.option("--run-args", "run_args_text", metavar="'OPTIONS'",
              help="vo-run options for every sequence, in one quoted string, e.g. --run-args '--stride 2 --size 416x128'.")
@click.option("--rerun", is_flag=True, help="Also run the sequences whose report.json already says complete.")
@click.option("--align", type=click.Choice(["sim3", "se3", "scale", "none"]), default="sim3", show_default=True,
              help="Alignment of each estimate to its ground truth in the table.")
@click.option("--quiet", is_flag=True, help="No progress bars (one line per finished sequence remains).")
def cli(sequences, out_dir, workers, threads, ray_address, run_args_text, rerun, align, quiet):
    """Run vo-run on each of SEQUENCES (folders, files or quoted globs) into --out/<name>/, then write the
    results table (as vo-eval summary does) to --out/summary.md, summary.csv and summary.json.

    The preset of each sequence is the one vo-run picks for it. A sequence that fails is a row of the
    table with its error; the others go on. Run the same command again after an interruption: the
    sequences whose report.json says complete are skipped.
    """
    from .batching import expand_sequences, make_jobs, run_batch
    from .batching.jobs import parse_run_args
    from .batching.threads import default_threads
    from ..eval.summary_table import format_markdown

    run_args = parse_run_args(run_args_text)
    _check_run_args(run_args)
    if ray_address is not None:
        from .batching.ray_tasks import import_ray

        import_ray()  # a one-line error before any work when Ray is missing
    seqs = expand_sequences(list(sequences))
    out_dir = ensure_writable_dir(out_dir)
    jobs = make_jobs(seqs, out_dir, run_args, threads or default_threads(workers))
    res = run_batch(jobs, out_dir, workers=workers, ray_address=ray_address, progress=not quiet, rerun=rerun,
                    align=align)
    click.echo(format_markdown(res["table"]))
    n_failed = sum(1 for r in res["results"].values() if r["status"] != "complete")
    click.echo(f"vo-batch: {len(jobs)} sequences ({len(res['skipped'])} skipped as complete, {n_failed} failed) in "
               f"{res['wall_s']:.1f} s; table: " + ", ".join(str(p) for p in res["written"]), err=True)
    return 1 if n_failed else 0


def _check_run_args(run_args: tuple[str, ...]) -> None:
    """vo-run's parser on a placeholder sequence: a bad option is one error now, not one per sequence."""
    from .run import cli as vo_run

    try:
        vo_run.make_context("vo-run", ["SEQUENCE", *run_args], resilient_parsing=False)
    except click.UsageError as e:
        raise UserError(f"--run-args: {e.format_message()}", fix="see vo-run --help") from None


def main(args: list[str] | None = None) -> None:
    run_command(cli, "vo-batch", args)


if __name__ == "__main__":
    main()
