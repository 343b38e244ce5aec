"""PNG plots of an evaluation (matplotlib, Agg canvas; no pyplot, no display needed).

* :func:`plot_top_view`: ground truth and, drawn over it, the aligned estimate
  seen from above, the estimate coloured by its ATE.  Camera frames (KITTI: x right, y down,
  z forward) are seen in the x-z plane (``plane="xz"``); ``"xy"`` suits
  world frames with z up.
* :func:`plot_errors`: ATE over the distance travelled, and the per-frame RPE
  (translation and rotation) over time (or frame index when there are no
  timestamps).
* :func:`plot_scale_drift`: the scale-drift ratio (:mod:`vo_app.eval.drift`) of
  one or more estimates over the frame index, with the +-5 % band.

The first two take the ``series`` of :func:`vo_app.eval.evaluate.evaluate_pair`, the
last the results themselves; all write atomically.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..io.atomic import atomic_write_bytes

_AXES = {"xz": (0, 2), "xy": (0, 1), "yz": (1, 2)}


def _save(fig: Figure, path: "str | os.PathLike[str]", dpi: int = 100) -> Path:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def _padded_limits(xy: np.ndarray, margin: float = 0.06) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y limits around the points ``xy [N,2]``, padded by ``margin`` of the larger extent."""
    xy = xy[np.isfinite(xy).all(axis=1)]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = margin * max(float((hi - lo).max()), 1e-9)
    if pad <= 1e-9:  # a single point (or none moving): one unit around it
        pad = 1.0
    return (lo[0] - pad, hi[0] + pad), (lo[1] - pad, hi[1] + pad)


def top_view_figure(series: dict, title: str = "", plane: str = "xz") -> Figure:
    """The top-view figure (see :func:`plot_top_view`), not saved: tests inspect its artists.

    The ground truth is a wide light line under the estimate (``zorder`` 2 < 3), so
    both stay visible where they overlap; each has a legend entry.  The limits
    hold both curves with a margin, at equal scale on both axes.
    """
    i, j = _AXES[plane]
    gt, est, err = series["gt_xyz"], series["est_xyz"], np.asarray(series["ate"], float)
    fig = Figure(figsize=(6.0, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    (gt_line,) = ax.plot(gt[:, i], gt[:, j], "-", color="0.45", lw=5.0, alpha=0.4, solid_capstyle="round",
                         label="ground truth", zorder=2)
    pts = est[:, [i, j]]
    segs = np.stack([pts[:-1], pts[1:]], axis=1)
    seg_err = 0.5 * (err[:-1] + err[1:]) if len(err) > 1 else err
    align = series.get("align")
    lc = LineCollection(segs, cmap="plasma", linewidths=1.8, zorder=3,
                        label="estimate" + ("" if not align or align == "none" else f" ({align.split()[0]}-aligned)"))
    lc.set_array(seg_err)
    ax.add_collection(lc)
    (start,) = ax.plot(*pts[0], "o", color="green", ms=6, label="start", zorder=4)
    est_key = Line2D([], [], color=lc.cmap(0.55), lw=1.8, label=lc.get_label())  # the legend's key for lc
    fig.colorbar(lc, ax=ax, label="ATE [m]")
    ax.set_xlabel(f"{plane[0]} [m]")
    ax.set_ylabel(f"{plane[1]} [m]")
    xlim, ylim = _padded_limits(np.concatenate([gt[:, [i, j]], pts]))
    ax.update_datalim([(xlim[0], ylim[0]), (xlim[1], ylim[1])])
    ax.autoscale_view(tight=True)
    ax.set_aspect("equal", adjustable="datalim")  # widens the narrower span: both curves stay in view
    ax.grid(True, alpha=0.3)
    ax.legend(handles=[gt_line, est_key, start], loc="best", fontsize=8)
    ax.set_title(title or "top view", fontsize=10)
    fig.tight_layout()
    return fig


def plot_top_view(series: dict, path: "str | os.PathLike[str]", title: str = "", plane: str = "xz") -> Path:
    """Top view of ``series["gt_xyz"] [N,3]`` and, over it, ``series["est_xyz"] [N,3]`` coloured by
    ``series["ate"] [N]``; written to ``path`` (PNG)."""
    return _save(top_view_figure(series, title, plane), path)


def plot_errors(series: dict, path: "str | os.PathLike[str]", title: str = "") -> Path:
    """ATE over distance travelled (top) and per-frame RPE over time or frame index (bottom)."""
    fig = Figure(figsize=(7.0, 5.0))
    ax1, ax2 = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    ax1.plot(series["distance"], series["ate"], color="tab:blue", lw=1.5)
    ax1.set_xlabel("distance travelled [m]")
    ax1.set_ylabel("ATE [m]")
    ax1.grid(True, alpha=0.3)
    ax1.set_title(title or "errors", fontsize=10)
    ids = np.asarray(series["rpe_ids"], int)
    t = series.get("time")
    x = (np.asarray(t)[ids] if t is not None else ids) if len(ids) else ids
    ax2.plot(x, series["rpe_trans"], color="tab:orange", lw=1.2, label="RPE translation [m]")
    ax2.set_xlabel("time [s]" if t is not None else "frame")
    ax2.set_ylabel("RPE trans. [m]", color="tab:orange")
    ax2.grid(True, alpha=0.3)
    ax3 = ax2.twinx()
    ax3.plot(x, series["rpe_rot"], color="tab:green", lw=1.0, label="RPE rotation [deg]")
    ax3.set_ylabel("RPE rot. [deg]", color="tab:green")
    fig.tight_layout()
    return _save(fig, path)


def plot_scale_drift(results: dict, path: "str | os.PathLike[str]", title: str = "") -> Path:
    """Smoothed (and, faint, raw) scale-drift ratio over the frame index of each ``{label: evaluate_pair result}``."""
    from .drift import BAND

    fig = Figure(figsize=(7.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.axhspan(1.0 - BAND, 1.0 + BAND, color="tab:green", alpha=0.12, lw=0, label=f"+-{BAND:.0%}")
    ax.axhline(1.0, color="0.4", lw=0.8)
    for c, (label, r) in enumerate(results.items()):
        ser, d = r["series"]["drift"], r["drift"]
        color = f"C{c % 10}"
        if d["end"] is None:
            ax.plot([], [], color=color, label=f"{label}: n/a (no moving steps)")
            continue
        ok = np.isfinite(ser["ratio"])
        f, ratio, raw = ser["frame"][ok].astype(float), ser["ratio"][ok], ser["raw"][ok]
        gap = np.flatnonzero(np.diff(f) > 3) + 1  # break the lines where the camera stood still, not at held poses
        f, ratio, raw = (np.insert(a, gap, np.nan) for a in (f, ratio, raw))
        ax.plot(f, raw, color=color, lw=0.6, alpha=0.3)
        ax.plot(f, ratio, color=color, lw=1.6,
                label=f"{label}: end {d['end']:.3f}, worst {d['worst']:+.3f} @ {d['worst_frame']}")
        ax.plot(d["worst_frame"], 1.0 + d["worst"], "o", color=color, ms=4)
    ratios = np.concatenate([r["series"]["drift"]["ratio"] for r in results.values()] + [np.ones(1)])
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if ratios.max() / ratios.min() > 4.0:  # a scale jump: keep small deviations readable
        ax.set_yscale("log")
    ax.set_xlabel("frame")
    ax.set_ylabel("|est step| / |GT step| (start = 1)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "scale drift (running median over 5 steps; raw faint)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def write_plots(series: dict, out_dir: "str | os.PathLike[str]", label: str, plane: str = "xz",
                stem: str | None = None) -> list[Path]:
    """Both plots of one estimate into ``out_dir``: ``<stem>_top.png``, ``<stem>_errors.png`` (stem: label)."""
    out_dir = Path(out_dir)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (stem or label)) or "estimate"
    return [plot_top_view(series, out_dir / f"{safe}_top.png", f"{label}: top view ({plane})", plane),
            plot_errors(series, out_dir / f"{safe}_errors.png", f"{label}: errors")]
