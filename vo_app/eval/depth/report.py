"""Reports of a depth evaluation: the markdown table, the JSON file, the pictures."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from .datasets import DepthSample
from .metrics import METRICS, MIN_DEPTH, depth_metrics, valid_mask


# ----------------------------------------------------------------------------------- reports
def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def format_depth_table(results: dict, datasets: "dict | None" = None) -> str:
    """Markdown table: a row per (dataset, method); median-scaled AbsRel..d3, then metric AbsRel, RMSE, d1."""
    head = ["data", "method", "AbsRel", "SqRel", "RMSE", "RMSElog", "d1", "d2", "d3", "AbsRel (metric)",
            "RMSE (metric)", "d1 (metric)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for dname, per in results.items():
        n = len(datasets[dname].samples) if datasets and dname in datasets else None
        crop = datasets[dname].info.get("crop", "none") if datasets and dname in datasets else "none"
        where = "" if crop == "none" else f", {crop} crop"
        for label, r in per.items():
            s, m = r["median_scaled"], r["metric"]
            cells = [f"{dname} ({n if n is not None else s['frames']}{where})", label]
            cells += [_fmt(s[k]) for k in METRICS] + [_fmt(m["abs_rel"]), _fmt(m["rmse"]), _fmt(m["a1"])]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("AbsRel..d3: median-scaled per image; (metric): the prediction as is. d1..d3: delta < 1.25^k.")
    return "\n".join(lines)


def dataset_summary(datasets: dict) -> dict:
    """``{name: {"frames", "cap", "source", "notes", "gt_pixels"}}`` for the JSON report.

    ``gt_pixels`` counts the pixels the metrics use: ground truth ``> 0`` (and ``<= cap``).
    """
    return {n: {"frames": len(d.samples), "cap": d.cap, "source": d.source, "notes": d.notes,
                "gt_pixels": int(sum(valid_mask(s.gt, d.cap).sum() for s in d.samples)),
                "image_sizes": sorted({f"{s.gt.shape[1]}x{s.gt.shape[0]}" for s in d.samples}), **d.info}
            for n, d in datasets.items()}


def write_depth_json(path: "str | Path", results: dict, meta: dict) -> Path:
    """Write ``{**meta, "results": results}`` atomically (NaN and inf as null)."""
    from ...io.atomic import atomic_write_json

    return atomic_write_json(path, {**meta, "metrics": list(METRICS), "results": results})


def _dilate_sparse(gt: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """For display only: sparse ground truth (< 20 % of pixels) and its error map grown by 3x3.

    Returns ``(gt [H,W] with the nearest depth of each neighbourhood, err [H,W] with its largest
    error (NaN where none), dilated)``.
    """
    if (gt > 0).mean() >= 0.2:
        return gt, err, False
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    inv = cv2.dilate(np.where(gt > 0, 1.0 / np.maximum(gt, 1e-6), 0).astype(np.float32), kernel)
    big = cv2.dilate(np.nan_to_num(err, nan=-1.0).astype(np.float32), kernel)
    return (np.where(inv > 0, 1.0 / np.maximum(inv, 1e-12), 0).astype(np.float32),
            np.where(big >= 0, big, np.nan).astype(np.float32), True)


def write_depth_picture(path: "str | Path", sample: DepthSample, pred: np.ndarray, cap: "float | None",
                        title: str = "") -> Path:
    """PNG grid (image | prediction / ground truth | abs-rel error of the median-scaled prediction), atomic.

    Depths share a log colour scale in metres (near bright); the error map spans 0..0.5.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from ...io.atomic import atomic_write_bytes

    gt = np.asarray(sample.gt, np.float32)
    pred = np.asarray(pred, np.float32)
    m = valid_mask(gt, cap)
    H, W = gt.shape
    lo, hi = (np.percentile(gt[m], [2, 98]) if m.any() else (1.0, 50.0))
    lo, hi = max(float(lo), 0.1), max(float(hi), float(lo) * 1.5, 0.2)
    norm = LogNorm(vmin=lo, vmax=hi)
    err = np.full(gt.shape, np.nan, np.float32)
    sm = depth_metrics(pred, gt, cap, median_scale=True)
    if m.any():
        ps = np.clip(pred[m] * sm["scale"], MIN_DEPTH, np.inf if cap is None else cap)
        err[m] = np.abs(ps - gt[m]) / gt[m]
    shown_gt, shown_err, dilated = _dilate_sparse(gt, err)
    panel_w = 6.0
    fig = Figure(figsize=(2 * panel_w, 2 * panel_w * H / W + 1.2))
    axes = fig.subplots(2, 2)
    img = np.clip(sample.image, 0, 1)
    axes[0, 0].imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    axes[0, 0].set_title("image", fontsize=9)
    im = axes[0, 1].imshow(np.clip(pred, lo, hi), cmap="magma_r", norm=norm)
    axes[0, 1].set_title(f"prediction (metric, x{sm['scale']:.2f} to median-scale)", fontsize=9)
    fig.colorbar(im, ax=axes[0, 1], fraction=0.03, label="m")
    im = axes[1, 0].imshow(np.ma.masked_where(shown_gt <= 0, np.clip(shown_gt, lo, hi)), cmap="magma_r", norm=norm)
    sparse = " (dilated for display)" if dilated else ""
    axes[1, 0].set_title(f"ground truth, {int(m.sum())} px{sparse}", fontsize=9)
    fig.colorbar(im, ax=axes[1, 0], fraction=0.03, label="m")
    im = axes[1, 1].imshow(np.ma.masked_invalid(shown_err), cmap="inferno", vmin=0, vmax=0.5)
    axes[1, 1].set_title(f"abs-rel error, median-scaled (mean {_fmt(sm['abs_rel'])})", fontsize=9)
    fig.colorbar(im, ax=axes[1, 1], fraction=0.03)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("0.85")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return atomic_write_bytes(path, buf.getvalue())
