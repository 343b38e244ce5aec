"""The sequences of a batch -> one :class:`Job` (sequence, output folder, ``vo-run`` options) each."""
from __future__ import annotations

import glob
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError

#: vo-run options the batch sets itself (or that need a screen), so ``--run-args`` may not hold them.
RESERVED = ("--out", "--quiet", "--demo", "--viewer", "--viewer-close", "--viewer-snapshot", "--help", "-h")


@dataclass(frozen=True)
class Job:
    """One sequence of a batch; plain strings so that it pickles to a worker process or a Ray task."""

    name: str                  # the output folder's name under --out
    sequence: str              # input path as given (a shared path for Ray workers)
    out_dir: str               # <--out>/<name>
    run_args: tuple[str, ...]  # extra vo-run options, the same for every sequence
    threads: int               # threads of the worker that runs it (vo_app.cli.batching.threads)


def expand_sequences(items: list[str]) -> list[str]:
    """Paths and glob patterns -> sequence paths in the given order (globs sorted), duplicates dropped.

    A pattern that matches nothing is a user error; a plain path is kept even when it does not
    exist, so that the batch lists it with its error instead of stopping.
    """
    out: list[str] = []
    for item in items:
        if glob.has_magic(item):
            hits = sorted(glob.glob(item))
            if not hits:
                raise UserError("the pattern matches nothing", path=item, fix="check the pattern (quote it so the "
                                "shell does not expand it) or list the sequence folders")
        else:
            hits = [item]
        for h in hits:
            if os.path.normpath(h) not in (os.path.normpath(o) for o in out):
                out.append(h)
    if not out:
        raise UserError("no sequences given", fix="pass sequence folders or a quoted glob, e.g. 'data/kitti*'")
    return out


def parse_run_args(text: str | None) -> tuple[str, ...]:
    """``--run-args`` text -> arguments for each ``vo-run``; the batch's own options are refused."""
    args = tuple(shlex.split(text or ""))
    for a in args:
        if a.split("=", 1)[0] in RESERVED:
            raise UserError(f"--run-args may not hold {a.split('=', 1)[0]} (vo-batch sets it for every sequence)",
                            fix="drop it from --run-args; use vo-batch's own --out / --quiet")
    return args


def make_jobs(sequences: list[str], out: "str | os.PathLike[str]", run_args: tuple[str, ...], threads: int) -> list[Job]:
    """One job per sequence; folder names are the sequence names, with parent folders prepended where
    two would clash (:func:`vo_app.eval.report.unique_labels`)."""
    from ...eval.report import unique_labels

    names = unique_labels([os.path.normpath(s) for s in sequences])
    names = [n.replace("/", "__") for n in names]
    return [Job(name=n, sequence=str(s), out_dir=str(Path(out) / n), run_args=tuple(run_args), threads=int(threads))
            for n, s in zip(names, sequences)]
