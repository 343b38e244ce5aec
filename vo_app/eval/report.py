"""Evaluate several estimates against one ground truth and write the JSON report and plots."""
from __future__ import annotations

import os
from pathlib import Path

from ..io.atomic import atomic_write_json
from .association import PosePair
from .evaluate import evaluate_pair, json_ready


def unique_labels(paths: list["str | os.PathLike[str]"]) -> list[str]:
    """Short distinct names: the file stem, with parent folders prepended until all differ."""
    parts = [Path(p).resolve().with_suffix("").parts for p in paths]
    labels = [p[-1] for p in parts]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{lab}#{i + 1}" for i, lab in enumerate(labels)]  # the same file given twice


def evaluate_all(pairs: dict[str, PosePair], align: str = "sim3", delta_m: float | None = 10.0, lengths="auto",
                 step: int = 10, drift_from: int = 0) -> dict[str, dict]:
    """``{label: pair}`` -> ``{label: evaluate_pair result}`` (same options for every estimate)."""
    return {label: evaluate_pair(p, align=align, delta_m=delta_m, lengths=lengths, step=step, drift_from=drift_from)
            for label, p in pairs.items()}


def write_outputs(results: dict[str, dict], *, json_path=None, plots_dir=None, plane: str = "xz",
                  meta: dict | None = None, plot_stems: dict[str, str] | None = None) -> list[Path]:
    """Write ``json_path`` (all numbers, no arrays) and the PNGs in ``plots_dir``; returns what was written.

    PNGs: ``<stem>_top.png`` and ``<stem>_errors.png`` per estimate, and one ``scale_drift.png`` with them all.
    """
    written = []
    if json_path is not None:
        doc = dict(meta or {})
        doc["results"] = {label: json_ready(r) for label, r in results.items()}
        written.append(atomic_write_json(json_path, doc))
    if plots_dir is not None:
        from .plots import plot_scale_drift, write_plots

        for label, r in results.items():
            written += write_plots(r["series"], plots_dir, label, plane, (plot_stems or {}).get(label))
        written.append(plot_scale_drift(results, Path(plots_dir) / "scale_drift.png"))
    return written
