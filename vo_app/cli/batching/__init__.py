"""Many sequences in one command (``vo-batch``): one ``vo-run`` per sequence, in worker processes on
this machine or as Ray tasks on a cluster, then one results table (:mod:`vo_app.eval.summary_table`).

* :mod:`.jobs`: the sequences (paths or globs) -> one :class:`Job` per output folder;
* :mod:`.threads`: each worker's thread count (torch, OpenCV, OpenMP/BLAS);
* :mod:`.worker`: one job, in whatever process runs it (``vo-run``'s command, its output in a log);
* :mod:`.local`: up to N jobs at once in child processes;
* :mod:`.ray_tasks`: the jobs as Ray tasks (optional extra ``vo_app[cluster]``);
* :mod:`.progress`: one bar over the sequences plus one per running sequence's frames;
* :mod:`.runner`: skip finished sequences, run the rest, write the table.

This package runs ``vo-run``'s command (:mod:`vo_app.cli.run`), so it sits at the CLI layer.
"""
from .jobs import Job, expand_sequences, make_jobs
from .runner import run_batch

__all__ = ["Job", "expand_sequences", "make_jobs", "run_batch"]
