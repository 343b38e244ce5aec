"""Running methods on datasets: per-frame metrics, their means, the frames kept for pictures."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .datasets import DepthDataset
from .metrics import depth_metrics, mean_depth_metrics
from .report import write_depth_picture


# --------------------------------------------------------------------------------- evaluation
def evaluate_method(method, dataset: DepthDataset, keep: "set[int] | None" = None) -> tuple[dict, dict]:
    """Run ``method`` on ``dataset``.

    Returns ``(result, kept)``: ``result = {"median_scaled": means, "metric": means, "per_frame": [...]}``
    (means of :func:`mean_depth_metrics`) and ``kept = {index: pred [H,W]}`` for the indices in ``keep``.
    """
    preds = method(dataset.samples)
    rows_s, rows_m, per_frame, kept = [], [], [], {}
    for i, (s, p) in enumerate(zip(dataset.samples, preds)):
        ms = depth_metrics(p, s.gt, dataset.cap, median_scale=True)
        mm = depth_metrics(p, s.gt, dataset.cap, median_scale=False)
        rows_s.append(ms)
        rows_m.append(mm)
        per_frame.append({"name": s.name, "pixels": ms["pixels"], "median_scaled": ms, "metric": mm})
        if keep is not None and i in keep:
            kept[i] = p
    return {"median_scaled": mean_depth_metrics(rows_s), "metric": mean_depth_metrics(rows_m),
            "per_frame": per_frame}, kept


def picture_indices(n: int, count: int) -> list[int]:
    """Up to ``count`` frame indices spread over ``0..n-1`` (first, last, evenly between)."""
    if n <= 0 or count <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(count, n))})


def evaluate_depth(methods: dict, datasets: dict, pictures_dir: "str | Path | None" = None,
                   pictures_per_dataset: int = 3) -> tuple[dict, list]:
    """``({dataset: {method: result}}, written picture paths)`` for every method that applies.

    ``methods``: ``{label: callable}`` (the first one is drawn in the pictures); a method with an
    ``applies_to`` tuple runs only on those dataset names.
    """
    results, written = {}, []
    first = next(iter(methods), None)
    for dname, ds in datasets.items():
        results[dname] = {}
        for label, fn in methods.items():
            if getattr(fn, "applies_to", None) is not None and dname not in fn.applies_to:
                continue
            keep = set(picture_indices(len(ds.samples), pictures_per_dataset)) if (
                pictures_dir is not None and label == first) else None
            res, kept = evaluate_method(fn, ds, keep)
            results[dname][label] = res
            for i, pred in sorted(kept.items()):
                out = Path(pictures_dir) / f"{dname}_{i:03d}_{ds.samples[i].name}.png"
                written.append(write_depth_picture(out, ds.samples[i], pred, ds.cap, f"{dname} {ds.samples[i].name}"
                                                   f" - {label}"))
    return results, written
